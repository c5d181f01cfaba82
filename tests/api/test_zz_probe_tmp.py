from tests.api.test_schemathesis import *  # noqa
import json

OUT = open("/tmp/st/anomalies.jsonl", "a")


@schema.parametrize()
@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_probe(case, alice):
    r = case.call(headers=alice.headers)
    try:
        case.validate_response(r, checks=CHECKS)
    except BaseException as exc:
        OUT.write(
            json.dumps(
                {
                    "op": case.operation.label,
                    "status": r.status_code,
                    "curl": case.as_curl_command(headers=alice.headers),
                    "body": r.text[:400],
                    "err": str(exc)[:600],
                }
            )
            + "\n"
        )
        OUT.flush()
