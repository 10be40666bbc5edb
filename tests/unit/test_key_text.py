"""A step's key must not change when the code that makes it is made faster: every key a
user's store holds would miss.  Keys are checked against fingerprint.hash_json, the text
keys were always made from, and against a key the code before this change made (c357a71)."""
import datetime

from nb2pipe.fingerprint import hash_json
from nb2pipe.keys import KEY_VERSION, make_key

COMPONENTS = [
    {},
    {"code": "103a746940ca245c75668270b5fdb042", "kind": "python", "outputs": ["o113"],
     "inputs": {"o35": "builtins.int:6e13", "o112": "builtins.int:6ef2"}, "modules": {},
     "params": {}, "setup": [], "srcs": {}},
    {"kind": "sql", "expects": ["len(df) > 0"], "srcs": {"data/ü.csv": "x"}, "setup": ["é", "\n"]},
    {"odd": datetime.date(2026, 12, 2), "nested": {"b": [1, 2.5, None, True], "a": {"z": 1}}},
]


def test_keys_are_the_hash_of_the_same_text_as_always():
    for comps in COMPONENTS:
        assert make_key(comps) == hash_json({"v": KEY_VERSION, **comps})


def test_a_key_made_before_is_made_again():
    assert make_key(COMPONENTS[1]) == "1b018169cb44e9619b1d9433e71fc2b0"
