"""Settings as an operator writes them: environment variables and a ``.env`` file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from upload_service.settings import Settings, SettingsError, load_settings

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "data"
    monkeypatch.setenv("DATA_DIR", str(path))
    return path


def load_with(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings(env_file=None)


def settings_error(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    with pytest.raises(SettingsError) as raised:
        load_with(monkeypatch, **env)
    message = str(raised.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("written", "size"),
    [
        ("16MB", 16_000_000),
        ("256MiB", 256 * 1024**2),
        ("5GiB", 5 * 1024**3),
        ("1.5KB", 1500),
        ("123456", 123_456),
        (" 64 mib ", 64 * 1024**2),
        ("0", 0),
    ],
)
def test_sizes_accept_decimal_and_binary_units_or_bytes(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, written: str, size: int
) -> None:
    settings = load_with(
        monkeypatch, MAX_FILE_SIZE=written, MAX_JSON_UPLOAD_SIZE=written, USER_QUOTA=written
    )
    assert (
        size,
        size,
        size,
    ) == (settings.MAX_FILE_SIZE, settings.MAX_JSON_UPLOAD_SIZE, settings.USER_QUOTA)


@pytest.mark.parametrize("written", ["lots", "16 parsecs", "-5", "MB", "1e9"])
@pytest.mark.parametrize("name", ["MAX_FILE_SIZE", "MAX_JSON_UPLOAD_SIZE", "USER_QUOTA"])
def test_a_bad_size_is_one_line_naming_the_variable(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, name: str, written: str
) -> None:
    assert name in settings_error(monkeypatch, **{name: written})


def test_defaults(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_with(monkeypatch)
    assert data_dir.resolve() == settings.DATA_DIR
    assert settings.database_url == f"sqlite:///{data_dir.resolve() / 'upload-service.db'}"
    assert settings.storage_url == f"file://{data_dir.resolve() / 'uploads'}"
    assert (settings.MAX_FILE_SIZE, settings.MAX_JSON_UPLOAD_SIZE) == (5 * 1024**3, 64 * 1024**2)
    assert (settings.HOST, settings.PORT, settings.mode) == ("127.0.0.1", 8000, "local")
    assert settings.GITHUB_URL == "https://github.com"
    assert settings.GITHUB_API_URL == "https://api.github.com"


def test_empty_values_count_as_unset(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = {
        name: ""
        for name in (
            "GITHUB_CLIENT_ID",
            "GITHUB_CLIENT_SECRET",
            "GITHUB_URL",
            "DATABASE_URL",
            "STORAGE_URL",
            "MAX_FILE_SIZE",
            "PORT",
            "SWEEP_INTERVAL",
            "GITHUB_ALLOWED_USERS",
        )
    }
    settings = load_with(monkeypatch, **empty)
    assert settings.mode == "local"
    assert settings.GITHUB_URL == "https://github.com"
    assert settings.database_url.startswith("sqlite:///")
    assert (settings.MAX_FILE_SIZE, settings.PORT, settings.SWEEP_INTERVAL) == (
        5 * 1024**3,
        8000,
        60,
    )
    assert settings.GITHUB_ALLOWED_USERS == []


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    env_file = tmp_path / "custom.env"
    env_file.write_text(
        f"DATA_DIR={tmp_path / 'from-dotenv'}\n"
        "MAX_FILE_SIZE=16MB\n"
        "GITHUB_CLIENT_ID=abc\nGITHUB_CLIENT_SECRET=def\n"
        "# a comment\nUSER_QUOTA=\n"
    )
    settings = load_settings(env_file=str(env_file))
    assert (tmp_path / "from-dotenv").resolve() == settings.DATA_DIR
    assert settings.MAX_FILE_SIZE == 16_000_000
    assert settings.USER_QUOTA == 0
    assert settings.mode == "github"


def test_dotenv_in_the_working_directory_is_read_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Path(".env").write_text(f"DATA_DIR={tmp_path / 'cwd-data'}\nPORT=9000\n")
    monkeypatch.setenv("PORT", "9100")  # the environment wins over .env
    settings = load_settings()
    assert (tmp_path / "cwd-data").resolve() == settings.DATA_DIR
    assert settings.PORT == 9100


def test_env_example_lists_every_setting_and_loads_as_the_defaults(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = REPO_ROOT / ".env.example"
    names = {
        line.split("=", 1)[0].strip()
        for line in example.read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }
    assert names == set(Settings.model_fields)
    monkeypatch.delenv("DATA_DIR")
    monkeypatch.chdir(data_dir.parent)
    from_example = load_settings(env_file=str(example))
    defaults = load_settings(env_file=None)
    assert from_example.model_dump(exclude={"SECRET_KEY"}) == defaults.model_dump(
        exclude={"SECRET_KEY"}
    )


def test_secret_key_is_generated_once_private_and_reused(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load_with(monkeypatch)
    key_file = data_dir / "secret_key"
    assert first.SECRET_KEY and len(first.SECRET_KEY) >= 32
    assert key_file.read_text().strip() == first.SECRET_KEY
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_with(monkeypatch).SECRET_KEY == first.SECRET_KEY


def test_explicit_secret_key_wins_and_writes_no_file(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_with(monkeypatch, SECRET_KEY="from-the-env").SECRET_KEY == "from-the-env"
    assert not (data_dir / "secret_key").exists()


def test_allowlists_are_comma_separated(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_with(
        monkeypatch, GITHUB_ALLOWED_USERS=" alice, bob,,carol ", GITHUB_ALLOWED_ORGS="acme"
    )
    assert settings.GITHUB_ALLOWED_USERS == ["alice", "bob", "carol"]
    assert settings.GITHUB_ALLOWED_ORGS == ["acme"]


def test_github_enterprise_urls_lose_their_trailing_slash(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_with(
        monkeypatch,
        GITHUB_URL="https://ghe.example.com/",
        GITHUB_API_URL="https://ghe.example.com/api/v3/",
    )
    assert settings.GITHUB_URL == "https://ghe.example.com"
    assert settings.GITHUB_API_URL == "https://ghe.example.com/api/v3"


def test_github_url_must_be_http(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "GITHUB_URL" in settings_error(monkeypatch, GITHUB_URL="ghe.example.com")


def test_github_mode_needs_both_id_and_secret(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    only_id = load_with(monkeypatch, GITHUB_CLIENT_ID="abc")
    both = load_with(monkeypatch, GITHUB_CLIENT_ID="abc", GITHUB_CLIENT_SECRET="def")
    assert (only_id.mode, both.mode) == ("local", "github")


@pytest.mark.parametrize("url", ["file:///srv/uploads", "s3://bucket", "s3://bucket/prefix/x"])
def test_storage_url_accepts_files_and_s3(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    assert load_with(monkeypatch, STORAGE_URL=url).storage_url == url


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/x", "/srv/uploads", "bucket/prefix", "s3://", "s3:///prefix", "file://rel"],
)
def test_bad_storage_url_is_rejected_naming_the_variable(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    assert "STORAGE_URL" in settings_error(monkeypatch, STORAGE_URL=url)


@pytest.mark.parametrize(
    ("name", "value"),
    [("PORT", "eighty"), ("PORT", "70000"), ("WORKERS", "0"), ("SWEEP_INTERVAL", "-1")],
)
def test_bad_numbers_name_the_variable(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    assert name in settings_error(monkeypatch, **{name: value})


def test_overrides_win_over_the_environment(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORT", "9000")
    assert load_settings({"PORT": 9001}, env_file=None).PORT == 9001
