"""The short cut that reads a well-formed purchase body accepts nothing the InputSerializer refuses, and
reads what it accepts exactly as the serializer does (Hypothesis: bodies mixing good and bad values)."""


from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.api.purchases import PurchaseRecordApi, purchase_input_fast

EDGES = [
    "", " a", "a ", "o\x00", "a\tb", "x" * 100, "x" * 101, "\u00a0x", "\ud800", "12.5", "0", "0.00", "007.50",
    " 1.00", "1.001", "-1", "-0", "1e3", "NaN", "Infinity", "12345678901.00", "9999999999.99", "99999.99",
    "9" * 16, " " + "9" * 16, "9" * 15, "EUR", "eur", "EU", "E1R", "ÉUR", "2026-01-02T03:04:05Z", "2026-01-02",
    "1899-12-31T00:00:00Z", "2999-01-01T00:00:00Z", "yesterday", 2.0, True, None, [], {}, ["x"], [""], ["x"] * 21,
    [" x"], [{"sku": "a", "quantity": 1, "amount": "1.00"}] * 501,
]
_MISSING_FIELD = object()
ODD = st.one_of(
    st.text(max_size=110), st.integers(-(10**12), 10**12), st.floats(allow_nan=True), st.sampled_from(EDGES)
)
MONEY = st.one_of(st.from_regex(r"[0-9]{1,4}(\.[0-9]{1,2})?", fullmatch=True), ODD)
LINE_FIELDS = ["sku", "quantity", "amount", "category", "categories", "colour"]
BODY_FIELDS = ["member", "order_id", "total", "currency", "shipping", "tax", "occurred_at", "lines", "unknown"]


@st.composite
def bodies(draw):
    """A well-formed body with one field (or one line's field) replaced, added or removed."""
    line = {"sku": "MUG-1", "quantity": 2, "amount": draw(st.from_regex(r"[0-9]{1,2}(\.[0-9]{1,2})?", fullmatch=True))}
    body = {
        "member": draw(st.from_regex(r"[0-9]{16}", fullmatch=True)),
        "order_id": draw(st.from_regex(r"[A-Za-z0-9][-A-Za-z0-9 ./]{0,98}[A-Za-z0-9]", fullmatch=True)),
        "total": "9999.99", "currency": "EUR", "lines": [line, dict(line)],
    }
    where = draw(st.sampled_from(["body", "line", "none"]))
    if where == "none":
        return body
    target, name = (body, draw(st.sampled_from(BODY_FIELDS))) if where == "body" else (
        body["lines"][0], draw(st.sampled_from(LINE_FIELDS)))
    if draw(st.booleans()) and name in target:
        del target[name]
    else:
        target[name] = draw(MONEY if name in ("total", "shipping", "tax", "amount") else ODD)
    return body


def _plain(value):
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


@settings(max_examples=600, deadline=None)
@given(bodies())
def test_what_the_short_cut_accepts_the_serializer_accepts_alike(body):
    fast = purchase_input_fast(body)
    if fast is None:
        return
    serializer = PurchaseRecordApi.InputSerializer(data=body)
    assert serializer.is_valid(), serializer.errors
    assert _plain(fast) == _plain(dict(serializer.validated_data))


def test_a_usual_body_takes_the_short_cut():
    body = {
        "member": "9" * 16, "order_id": "A-1", "total": "59.90", "currency": "EUR", "tax": "5",
        "occurred_at": "2026-01-02T03:04:05Z",
        "lines": [{"sku": "MUG", "quantity": 2, "amount": "12.00", "category": "kitchen", "categories": ["x"]}],
    }
    fast = purchase_input_fast(body)
    assert fast is not None and str(fast["total"]) == "59.90" and str(fast["tax"]) == "5.00"
    assert fast["lines"][0]["categories"] == ["x"]
    assert purchase_input_fast({**body, "total": 59.9}) is None  # a JSON number: the serializer reads it


def _base() -> dict:
    line = {"sku": "MUG-1", "quantity": 2, "amount": "12.00"}
    return {"member": "9" * 16, "order_id": "A-1", "total": "9999.99", "currency": "EUR", "lines": [line, dict(line)]}


def _agree(body) -> bool:
    fast = purchase_input_fast(body)
    if fast is None:
        return True
    serializer = PurchaseRecordApi.InputSerializer(data=body)
    assert serializer.is_valid(), (body, serializer.errors)
    assert _plain(fast) == _plain(dict(serializer.validated_data)), body
    return True


def test_every_field_with_every_edge_value():
    """Deterministic: each field of a good body (and of its first line) set to each edge value, or removed."""
    values = EDGES + [0, 1, 1_000_000, 1_000_001, -1, 10**12, 1.5, "x" * 1000]
    accepted = 0
    for name in BODY_FIELDS:
        for value in [*values, _MISSING_FIELD]:
            body = _base()
            body.pop(name, None) if value is _MISSING_FIELD else body.__setitem__(name, value)
            accepted += purchase_input_fast(body) is not None
            _agree(body)
    for name in LINE_FIELDS:
        for value in [*values, _MISSING_FIELD]:
            body = _base()
            line = body["lines"][0]
            line.pop(name, None) if value is _MISSING_FIELD else line.__setitem__(name, value)
            accepted += purchase_input_fast(body) is not None
            _agree(body)
    assert accepted > 30  # the short cut is taken for many of them
