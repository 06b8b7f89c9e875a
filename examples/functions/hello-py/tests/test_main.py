import json

from main import handler


def test_greets_by_name():
    answer = handler({"queryStringParameters": {"name": "Ada"}})
    assert json.loads(answer["body"]) == {"message": "Hello, Ada!"}
