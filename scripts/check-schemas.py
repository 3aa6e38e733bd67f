#!/usr/bin/env python3
"""Validates every message vector in Protocol/vectors/messages against Protocol/schemas (JSON Schema 2020-12),
and every change in the merge and admission vectors against the change schema. Exit 1 on any failure."""
import json, pathlib, sys
import jsonschema
from referencing import Registry, Resource

root = pathlib.Path(__file__).resolve().parent.parent / "Protocol"
change = json.loads((root / "schemas/change.schema.json").read_text())
messages = json.loads((root / "schemas/messages.schema.json").read_text())
alert = json.loads((root / "schemas/alert.schema.json").read_text())
registry = Registry().with_resources([
    (change["$id"], Resource.from_contents(change)),
    (messages["$id"], Resource.from_contents(messages)),
    (alert["$id"], Resource.from_contents(alert)),
])
failures, checked = [], 0

def check(instance, ref, where):
    global checked
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": ref}
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    for error in validator.iter_errors(instance):
        failures.append(f"{where}: {error.json_path}: {error.message}")
    checked += 1

for path in sorted((root / "vectors/messages").glob("*.json")):
    vector = json.loads(path.read_text())
    check(vector["json"], f"{messages['$id']}#/$defs/{vector['message']}", path.name)
for path in sorted((root / "vectors/alerts").glob("*.json")):
    vector = json.loads(path.read_text())
    check(vector["json"], f"{alert['$id']}#/$defs/{vector['message']}", "alerts/" + path.name)
for folder in ("merge", "admission"):
    for path in sorted((root / "vectors" / folder).glob("*.json")):
        vector = json.loads(path.read_text())
        for i, c in enumerate(vector.get("changes", []) + ([vector["change"]] if "change" in vector else [])):
            if c.get("ops") == {}:
                continue  # the empty-change vector is refused by receivers, not by the schema
            check(c, change["$id"], f"{folder}/{path.name} change {i}")
        for i, c in enumerate(vector.get("expect", {}).get("conflicts", [])):
            check(c, f"{messages['$id']}#/$defs/conflict", f"{folder}/{path.name} conflict {i}")
# A deliberately bad message must fail, so the check itself can fail.
bad = {"protocolVersion": 1, "sender": "tractor:1", "changes": []}
validator = jsonschema.Draft202012Validator({"$ref": f"{messages['$id']}#/$defs/PushRequest"}, registry=registry)
if not list(validator.iter_errors(bad)):
    failures.append("a PushRequest with sender 'tractor:1' passed the schema")
bad_result = {"protocolVersion": 1, "receiver": "hub:371312", "results": [{"id": "tractor:1/1", "outcome": "accepted", "seq": 3}]}
validator = jsonschema.Draft202012Validator({"$ref": f"{messages['$id']}#/$defs/PushResponse"}, registry=registry)
if not list(validator.iter_errors(bad_result)):
    failures.append("an accepted result with id 'tractor:1/1' passed the schema (only an invalid_identifier refusal may name such an id)")
bad_alert = {"source": "kite", "externalID": "", "at": 5, "geometry": {"type": "Polygon"}}
validator = jsonschema.Draft202012Validator({"$ref": f"{alert['$id']}#/$defs/AlertRequest"}, registry=registry)
if not list(validator.iter_errors(bad_alert)):
    failures.append("an AlertRequest with source 'kite' passed the schema")
for failure in failures:
    print(failure)
print(f"{checked} documents checked against Protocol/schemas, {len(failures)} failures")
sys.exit(1 if failures else 0)
