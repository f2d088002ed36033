"""Hypothesis suite for the upload parsers (issue 12): whatever the bytes, `read_csv` and
`read_parquet` give a Panel or a DataValidationError naming the problem (never another
exception, never silently wrong data); valid long-form tables round-trip exactly
through CSV and Parquet; what the upload route checks (`_parse_upload`, with limits)
is always a 4xx."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kernels.data import FIELDS, DataValidationError, Panel, read_csv, read_parquet

pytestmark = pytest.mark.slow  # ~20 s on 2 cores

HEADER = "timestamp,symbol,open,high,low,close,volume"
FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

symbols = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=6)
prices = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)
stamps = st.datetimes(min_value=pd.Timestamp("1990-01-01").to_pydatetime(),
                      max_value=pd.Timestamp("2100-01-01").to_pydatetime())


@st.composite
def long_frames(draw) -> pd.DataFrame:
    """Valid long-form bars: unique (timestamp, symbol), positive prices, high >= low, volume >= 0."""
    syms = draw(st.lists(symbols, min_size=1, max_size=4, unique=True))
    times = draw(st.lists(stamps, min_size=1, max_size=6, unique=True))
    rows = []
    for t in times:
        for s in syms:
            if draw(st.booleans()) or len(rows) == 0:
                lo, hi = sorted((draw(prices), draw(prices)))
                rows.append({"timestamp": pd.Timestamp(t).floor("s"), "symbol": s, "open": draw(prices), "high": hi,
                             "low": lo, "close": draw(prices),
                             "volume": draw(st.floats(min_value=0, max_value=1e9, allow_nan=False))})
    df = pd.DataFrame(rows).drop_duplicates(["timestamp", "symbol"]).reset_index(drop=True)
    return df


def to_csv(df: pd.DataFrame) -> bytes:
    out = df.copy()
    out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    return out.to_csv(index=False, float_format="%.17g").encode()


def to_parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def parses_or_refuses(parse, data: bytes) -> Panel | None:
    """A Panel, or None after a DataValidationError with a message; anything else fails the test."""
    try:
        panel = parse(io.BytesIO(data))
    except DataValidationError as exc:
        assert str(exc).strip(), "an error must say what is wrong"
        return None
    assert isinstance(panel, Panel)
    for f in FIELDS:
        arr = getattr(panel, f)
        assert arr.shape == (panel.n_bars, panel.n_assets)
        finite = arr[np.isfinite(arr)]
        assert (finite >= 0).all()
    assert np.all(np.diff(panel.index.astype("datetime64[ns]").astype(np.int64)) > 0)  # sorted, no wrap-around
    ok = np.isfinite(panel.high) & np.isfinite(panel.low)
    assert (panel.high[ok] >= panel.low[ok]).all()
    return panel


@FUZZ
@given(df=long_frames())
def test_valid_tables_round_trip_through_csv_and_parquet(df):
    a = parses_or_refuses(read_csv, to_csv(df))
    b = parses_or_refuses(read_parquet, to_parquet(df))
    assert a is not None and b is not None
    assert a.symbols == b.symbols == tuple(sorted(df["symbol"].unique()))
    np.testing.assert_array_equal(a.index, b.index)
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    first = df.sort_values(["timestamp", "symbol"]).iloc[0]
    col = a.symbols.index(first["symbol"])
    assert a.close[0, col] == first["close"]


@FUZZ
@given(df=long_frames(), data=st.data())
def test_a_corrupted_cell_is_refused_or_harmless(df, data):
    text = to_csv(df).decode().splitlines()
    assume(len(text) > 1)
    row = data.draw(st.integers(1, len(text) - 1))
    cells = text[row].split(",")
    col = data.draw(st.integers(0, len(cells) - 1))
    cells[col] = data.draw(st.sampled_from(["", "abc", "-1", "0", "nan", "inf", "-inf", "1e400", "9999-12-31",
                                            "1500-01-01", "2020-13-45", "\"", "0x10", "true", "-0", "1e-400",
                                            "١٢٣", "NULL", "2262-04-12", "1677-09-21"]))
    text[row] = ",".join(cells)
    parses_or_refuses(read_csv, ("\n".join(text) + "\n").encode())


@FUZZ
@given(raw=st.binary(max_size=400))
def test_arbitrary_bytes_never_escape_as_another_error(raw):
    parses_or_refuses(read_csv, raw)
    parses_or_refuses(read_parquet, raw)
    parses_or_refuses(read_csv, (HEADER + "\n").encode() + raw)


@FUZZ
@given(lines=st.lists(st.lists(st.text(max_size=12).filter(lambda s: "," not in s and "\n" not in s and "\r" not in s),
                               min_size=7, max_size=7), min_size=1, max_size=5))
def test_arbitrary_cells_under_the_header(lines):
    body = "\n".join(",".join(cells) for cells in lines)
    parses_or_refuses(read_csv, f"{HEADER}\n{body}\n".encode())


def test_regressions_found_by_hand_and_by_the_fuzzer():
    """Each was accepted (or crashed) before issue 12."""
    base = f"{HEADER}\n2020-01-01,A,1,2,1,1.5,10\n"
    cases = {
        "9999-12-31,A,1,2,1,1.5,10": "out of range",  # stored as 1816-03-29 before
        "2020-01-02,A,1,0.5,1,1.5,10": "'high' is below column 'low'",
        "2020-01-02,A,1,2,1,-50,10": "'close' must be positive",
        "2020-01-01,A,1,2,1,1.5,10": "duplicate (timestamp, symbol)",
    }
    for line, needle in cases.items():
        with pytest.raises(DataValidationError, match=needle.replace("(", r"\(").replace(")", r"\)")):
            read_csv(io.BytesIO(f"{base}{line}\n".encode()))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=long_frames(), kind=st.sampled_from(["csv", "parquet"]))
def test_upload_route_parsing_is_a_4xx_or_a_panel(df, kind):
    from actors.settings import ServeConfig
    from deployments.http.errors import ApiError
    from deployments.http.routes import _parse_upload

    assume(len(df) >= 2)
    data = to_csv(df) if kind == "csv" else to_parquet(df)
    n_times, n_syms = df["timestamp"].nunique(), df["symbol"].nunique()
    checks = [(ServeConfig(max_upload_rows=len(df) - 1), "max_upload_rows"),
              (ServeConfig(max_upload_cells=n_times * n_syms - 1), "max_upload_cells")]
    if n_syms > 1:
        checks.append((ServeConfig(max_upload_symbols=n_syms - 1), "max_upload_symbols"))
    for config, limit in checks:
        with pytest.raises(ApiError) as err:
            _parse_upload(data, kind, config)
        assert err.value.status == 413 and limit in err.value.message and err.value.field == "file"
    panel = _parse_upload(data, kind, ServeConfig())
    assert panel.n_assets == n_syms and panel.n_bars == n_times
