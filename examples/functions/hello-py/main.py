"""hello-py: a GreenCloud function that greets whoever calls it."""

import json


def handler(event, context=None):
    name = (event or {}).get("queryStringParameters", {}).get("name") or "world"
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"message": f"Hello, {name}!"}),
    }


if __name__ == "__main__":
    print(handler({"queryStringParameters": {"name": "local"}}))
