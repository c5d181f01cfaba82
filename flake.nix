{
  description = "Upload Service: self-hosted file upload and sharing";

  # nixos-unstable rather than nixos-24.11: 24.11 ships poetry-core 1.9, which cannot build a
  # pyproject.toml with a PEP 621 [project] table (poetry-core >= 2 is needed).
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      lib = nixpkgs.lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
        "aarch64-darwin"
        "x86_64-darwin"
      ];
      linuxSystems = lib.filter (lib.hasSuffix "-linux") systems;
      forSystems = names: f: lib.genAttrs names (system: f nixpkgs.legacyPackages.${system});
      pyproject = builtins.fromTOML (builtins.readFile ./pyproject.toml);
      version = pyproject.project.version;

      # The app, built from pyproject.toml with nixpkgs' Python packages. Dependencies are the
      # [project] dependencies of pyproject.toml; keep the two lists in step.
      uploadService =
        pkgs:
        let
          # pyfastcdc (the sync protocol's chunker) is not in nixpkgs: built here from its sdist.
          python = pkgs.python311.override {
            packageOverrides = self: _super: {
              pyfastcdc = self.buildPythonPackage rec {
                pname = "pyfastcdc";
                version = "0.3.1";
                pyproject = true;
                src = self.fetchPypi {
                  inherit pname version;
                  hash = "sha256-TUvMCwekjz8xIhtbhj4axa0n1stQiR9u1+ivL8ZmsJE=";
                };
                build-system = [
                  self.setuptools
                  self.cython
                ];
                dependencies = [ self.typing-extensions ];
                pythonImportsCheck = [ "pyfastcdc" ];
              };
            };
          };
        in
        python.pkgs.buildPythonApplication {
          pname = "upload-service";
          inherit version;
          pyproject = true;
          src = lib.fileset.toSource {
            root = ./.;
            fileset = lib.fileset.unions [
              ./pyproject.toml
              ./README.md
              ./upload_service
            ];
          };
          build-system = [ python.pkgs.poetry-core ];
          dependencies = with python.pkgs; [
            alembic
            boto3
            click
            flask
            flask-dance
            flask-limiter
            flask-wtf
            gunicorn
            pathspec
            pillow
            prometheus-client
            platformdirs
            psycopg
            pydantic
            pyfastcdc
            pydantic-settings
            python-dotenv
            redis
            requests
            rich
            sqlalchemy
            watchdog
          ];
          # poetry.lock pins exact versions for pip installs; here nixpkgs' versions are used.
          pythonRelaxDeps = true;
          # The test suite needs PostgreSQL, Redis and an S3 endpoint: it runs with `./dev test`.
          doCheck = false;
          pythonImportsCheck = [
            "upload_service.app"
            "upload_service.cli"
          ];
          meta = {
            description = pyproject.project.description;
            license = lib.licenses.mit;
            mainProgram = "upload-service";
          };
        };

      dockerImage =
        pkgs:
        let
          app = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        in
        pkgs.dockerTools.buildLayeredImage {
          name = "upload-service";
          tag = version;
          contents = [
            app
            pkgs.cacert
          ];
          # A non-root user that owns the /data volume, and a writable /tmp.
          fakeRootCommands = ''
            mkdir -p etc data tmp app
            echo 'root:x:0:0:root:/root:/sbin/nologin' > etc/passwd
            echo 'app:x:10001:10001:Upload Service:/data:/sbin/nologin' >> etc/passwd
            echo 'root:x:0:' > etc/group
            echo 'app:x:10001:' >> etc/group
            chown 10001:10001 data
            chmod 1777 tmp
          '';
          config = {
            Cmd = [
              "${app}/bin/upload-service"
              "serve"
            ];
            User = "10001:10001";
            WorkingDir = "/app";
            Env = [
              "DATA_DIR=/data"
              "HOST=0.0.0.0"
              "PORT=8000"
              "HOME=/data"
              "PYTHONUNBUFFERED=1"
              "SSL_CERT_FILE=${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt"
            ];
            ExposedPorts = {
              "8000/tcp" = { };
            };
            Volumes = {
              "/data" = { };
            };
            Healthcheck = {
              Test = [
                "CMD"
                "${pkgs.python311}/bin/python3"
                "-c"
                "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
              ];
              Interval = 30000000000; # nanoseconds
              Timeout = 5000000000;
              StartPeriod = 20000000000;
              Retries = 3;
            };
          };
        };
    in
    {
      packages = forSystems systems (pkgs: {
        default = uploadService pkgs;
      });

      # `nix build .#dockerImage.x86_64-linux && docker load < result`
      dockerImage = forSystems linuxSystems dockerImage;

      devShells = forSystems systems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            pkgs.python311
            pkgs.poetry
            pkgs.postgresql
            pkgs.redis
          ]
          ++ lib.optionals pkgs.stdenv.isLinux [ pkgs.chromium ];
          env = {
            POETRY_VIRTUALENVS_IN_PROJECT = "true";
          };
        };
      });
    };
}
