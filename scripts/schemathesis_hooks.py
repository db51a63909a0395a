"""Schemathesis hooks for scripts/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).

`Idempotency-Key` is a structured-header string: quoted (`"a1b2"`). Schemathesis generates header
values from letters and digits only (what every transport can carry), so it cannot produce a
quoted one and sends values like `0` in cases it then checks as valid, which the API rightly
refuses with 400. In every case meant to be valid, this puts a fresh valid key in instead (a
fresh one, so that no two generated requests share a key); negative cases keep theirs. Malformed
keys are covered by tests/api/idempotency/keys.rs.
"""

import uuid

import schemathesis
from schemathesis import GenerationMode


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    headers = case.headers or {}
    name = next((n for n in headers if n.lower() == "idempotency-key"), None)
    meta = getattr(case, "meta", None)
    positive = meta is None or meta.generation.mode == GenerationMode.POSITIVE
    if name is not None and positive:
        headers[name] = f'"{uuid.uuid4()}"'
