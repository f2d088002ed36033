"""CPU backend of the orders engine: Numba, one group of columns per `prange` job.

The per-bar logic of one column is `order_step_nb` (vectorbt 0.2x/1.x
`simulate_from_signals_nb` with the `Portfolio.from_signals` defaults: price = close,
valuation price = close forward-filled, stop entry price = close, stop exit at the
stop price without slippage, stop exit closes, stop update overrides, conflicts
ignored, opposite entry reverses, min_size 1e-8). It is inlined both in the
from_signals kernel (`simulate_from_signals_nb`, which writes order records) and in
the sweep kernel (`sweep_cpu.py`, which accumulates metrics); `gpu.py` has the same
function as a CUDA `__device__` function.

The kernel is O(1) for a bar with no signal and either no position or no active
stop: a one-column group skips such bars 64 at a time through its signal bitmap
(`signal_bits`, one bit per bar, built in one row-major pass). Orders are written as columns
of arrays (structure of arrays) into a region of capacity 2 x (signal bars) + 1 per
group; the API packs them into `order_dt` records. Value, cash and positions are
not computed here: `result.py` derives them from the records when asked.

These only accept NumPy arrays.
"""
from __future__ import annotations

import sys

import numpy as np
from numba import njit, prange

from kernels.backtest.orders.enums import ABS_TOL, MIN_SIZE, REL_TOL

# Enum values as module constants (Numba freezes globals at compile time).
ST_AMOUNT, ST_VALUE, ST_PERCENT, ST_TARGETPERCENT = 0, 1, 2, 3
D_LONG, D_SHORT, D_BOTH = 0, 1, 2
ACC_DISABLED, ACC_BOTH, ACC_ADDONLY, ACC_REMOVEONLY = 0, 1, 2, 3
SIDE_BUY, SIDE_SELL = 0, 1
R_SIGNAL, R_SL, R_TSL, R_TP = 0, 1, 2, 3
ERR_NONE, ERR_PERCENT_REVERSAL, ERR_CAPACITY = 0, 1, 2
WORD_BITS = 64  # bars per word of a column's signal bitmap (`signal_bits`)
BITS_WORDS = 64  # 64-bar words per task of `signal_bits` (4,096 bars: a task's writes fill whole cache lines)
BITS_COLS = 1024  # columns per task of `signal_bits` (wide panels split by columns too)
# De Bruijn sequence and table: the index of a word's lowest set bit without a loop
DEBRUIJN64 = np.uint64(0x03F79D71B4CB0A89)
DEBRUIJN_INDEX = np.array([0, 1, 48, 2, 57, 49, 28, 3, 61, 58, 50, 42, 38, 29, 17, 4, 62, 55, 59, 36, 53, 51, 43,
                           22, 45, 39, 33, 30, 24, 18, 12, 5, 63, 47, 56, 27, 60, 41, 37, 16, 54, 35, 52, 21, 44,
                           32, 23, 11, 46, 26, 40, 15, 34, 20, 31, 10, 25, 14, 19, 9, 13, 8, 7, 6], dtype=np.int64)


# ------------------------------------------------------------------ float helpers (vectorbt's math_)
@njit(cache=True)
def is_close_nb(a, b):  # pragma: no cover - compiled
    if np.isnan(a) or np.isnan(b) or np.isinf(a) or np.isinf(b):
        return False
    if a == b:
        return True
    return abs(a - b) <= max(REL_TOL * max(abs(a), abs(b)), ABS_TOL)


@njit(cache=True)
def is_close_or_less_nb(a, b):  # pragma: no cover - compiled
    if is_close_nb(a, b):
        return True
    return a < b


@njit(cache=True)
def is_less_nb(a, b):  # pragma: no cover - compiled
    if is_close_nb(a, b):
        return False
    return a < b


@njit(cache=True)
def add_nb(a, b):  # pragma: no cover - compiled
    if np.sign(a) != np.sign(b):
        if is_close_nb(abs(a), abs(b)):
            return 0.0
    elif is_close_nb(a + b, 0.0):
        return 0.0
    return a + b


@njit(cache=True)
def value_return_nb(prev, v):  # pragma: no cover - compiled
    """vectorbt's get_return_nb: the return from value `prev` to `v` (sign flipped when
    prev < 0; 0 from 0 to 0, sign(v) x inf from 0 to v != 0)."""
    if prev == 0:
        if v == 0:
            return 0.0
        return np.inf * np.sign(v)
    r = (v - prev) / prev
    if prev < 0:
        r = -r
    return r


# ------------------------------------------------------------------ order execution
@njit(cache=True)
def buy_nb(cash, position, debt, free_cash, size, price, direction, fees, fixed_fees, slippage,
           percent):  # pragma: no cover - compiled
    """vectorbt's buy_nb (lock_cash off, allow_partial on, no max size / granularity).
    Returns (filled, cash, position, debt, free_cash, size, price, fees)."""
    adj_price = price * (1.0 + slippage)
    cash_limit = cash
    if not np.isnan(percent):
        cash_limit = min(cash_limit, percent * cash_limit)
    if direction == D_LONG or direction == D_BOTH:
        if cash_limit == 0:
            return False, cash, position, debt, free_cash, 0.0, 0.0, 0.0
    else:
        if position == 0:
            return False, cash, position, debt, free_cash, 0.0, 0.0, 0.0
    if direction == D_SHORT:
        adj_size = min(-position, size)
    else:
        adj_size = size
    if adj_size == 0:
        return False, cash, position, debt, free_cash, 0.0, 0.0, 0.0
    req_cash = adj_size * adj_price
    req_fees = req_cash * fees + fixed_fees
    total_req_cash = req_cash + req_fees
    if is_close_or_less_nb(total_req_cash, cash_limit):
        final_size = adj_size
        fees_paid = req_fees
        final_req_cash = total_req_cash
    else:
        max_req_cash = add_nb(cash_limit, -fixed_fees) / (1.0 + fees)
        if max_req_cash <= 0:
            return False, cash, position, debt, free_cash, 0.0, 0.0, 0.0
        final_size = max_req_cash / adj_price
        fees_paid = cash_limit - max_req_cash
        final_req_cash = cash_limit
    if is_close_nb(adj_size, 0.0):
        return False, cash, position, debt, free_cash, 0.0, 0.0, 0.0
    if is_less_nb(final_size, MIN_SIZE):
        return False, cash, position, debt, free_cash, 0.0, 0.0, 0.0
    new_cash = add_nb(cash, -final_req_cash)
    new_position = add_nb(position, final_size)
    if position < 0:
        if new_position < 0:
            short_size = final_size
        else:
            short_size = abs(position)
        avg_entry_price = debt / abs(position)
        debt_diff = short_size * avg_entry_price
        new_debt = add_nb(debt, -debt_diff)
        new_free_cash = add_nb(free_cash + 2.0 * debt_diff, -final_req_cash)
    else:
        new_debt = debt
        new_free_cash = add_nb(free_cash, -final_req_cash)
    return True, new_cash, new_position, new_debt, new_free_cash, final_size, adj_price, fees_paid


@njit(cache=True)
def sell_nb(cash, position, debt, free_cash, size, price, direction, fees, fixed_fees, slippage,
            percent):  # pragma: no cover - compiled
    """vectorbt's sell_nb (lock_cash off, allow_partial on). Same returns as buy_nb."""
    adj_price = price * (1.0 - slippage)
    if direction == D_LONG:
        size_limit = min(position, size)
    else:
        if np.isinf(size) and not np.isnan(percent):
            long_size = max(position, 0.0)
            long_cash = long_size * adj_price * (1.0 - fees)
            total_free_cash = add_nb(free_cash, long_cash)
            if total_free_cash <= 0:
                if position <= 0:
                    return False, cash, position, debt, free_cash, 0.0, 0.0, 0.0
                max_size_limit = long_size
            else:
                max_short_size = add_nb(total_free_cash, -fixed_fees) / (adj_price * (1.0 + fees))
                max_size_limit = add_nb(long_size, max_short_size)
                if max_size_limit <= 0:
                    return False, cash, position, debt, free_cash, 0.0, 0.0, 0.0
            size_limit = max_size_limit
        else:
            size_limit = size
    if not np.isnan(percent):
        size_limit = percent * size_limit
    if direction == D_LONG:
        if position == 0:
            return False, cash, position, debt, free_cash, 0.0, 0.0, 0.0
    if is_close_nb(size_limit, 0.0):
        return False, cash, position, debt, free_cash, 0.0, 0.0, 0.0
    if is_less_nb(size_limit, MIN_SIZE):
        return False, cash, position, debt, free_cash, 0.0, 0.0, 0.0
    acq_cash = size_limit * adj_price
    fees_paid = acq_cash * fees + fixed_fees
    final_acq_cash = add_nb(acq_cash, -fees_paid)
    if final_acq_cash < 0:
        return False, cash, position, debt, free_cash, 0.0, 0.0, 0.0
    new_cash = cash + final_acq_cash
    new_position = add_nb(position, -size_limit)
    if new_position < 0:
        if position < 0:
            short_size = size_limit
        else:
            short_size = abs(new_position)
        short_value = short_size * adj_price
        new_debt = debt + short_value
        new_free_cash = add_nb(free_cash, add_nb(final_acq_cash, -2.0 * short_value))
    else:
        new_debt = debt
        new_free_cash = free_cash + final_acq_cash
    return True, new_cash, new_position, new_debt, new_free_cash, size_limit, adj_price, fees_paid


@njit(cache=True)
def execute_nb(cash, position, debt, free_cash, val_price, value, size, size_type, direction, price, fees,
               fixed_fees, slippage):  # pragma: no cover - compiled
    """vectorbt's execute_order_nb for the from_signals orders. Returns
    (filled, side, cash, position, debt, free_cash, size, price, fees); the state is
    returned snapped to 0 where vectorbt snaps it, filled or not."""
    if is_close_nb(cash, 0.0):
        cash = 0.0
    if is_close_nb(position, 0.0):
        position = 0.0
    if is_close_nb(debt, 0.0):
        debt = 0.0
    if is_close_nb(free_cash, 0.0):
        free_cash = 0.0
    if is_close_nb(val_price, 0.0):
        val_price = 0.0
    if is_close_nb(value, 0.0):
        value = 0.0
    if np.isnan(size) or np.isnan(price):
        return False, SIDE_BUY, cash, position, debt, free_cash, 0.0, 0.0, 0.0
    order_size = size
    if direction == D_SHORT:
        order_size = -order_size
    st = size_type
    if st == ST_TARGETPERCENT:
        if np.isnan(value) or value <= 0:
            return False, SIDE_BUY, cash, position, debt, free_cash, 0.0, 0.0, 0.0
        order_size = order_size * value
        st = 4  # target value
    if st == ST_VALUE or st == 4:
        if np.isnan(val_price) or val_price <= 0:
            return False, SIDE_BUY, cash, position, debt, free_cash, 0.0, 0.0, 0.0
        order_size = order_size / val_price
        if st == ST_VALUE:
            st = ST_AMOUNT
        else:
            st = 5  # target amount
    if st == 5:
        order_size = order_size - position
        st = ST_AMOUNT
    if st == ST_AMOUNT:
        if direction == D_SHORT or direction == D_BOTH:
            if order_size < 0 and np.isinf(order_size):
                order_size = -1.0
                st = ST_PERCENT
    percent = np.nan
    if st == ST_PERCENT:
        percent = abs(order_size)
        order_size = np.sign(order_size) * np.inf
    if order_size > 0:
        ok, cash2, pos2, debt2, fc2, fsize, fprice, ffees = buy_nb(
            cash, position, debt, free_cash, order_size, price, direction, fees, fixed_fees, slippage, percent)
        side = SIDE_BUY
    else:
        ok, cash2, pos2, debt2, fc2, fsize, fprice, ffees = sell_nb(
            cash, position, debt, free_cash, -order_size, price, direction, fees, fixed_fees, slippage, percent)
        side = SIDE_SELL
    if not ok:
        return False, side, cash, position, debt, free_cash, 0.0, 0.0, 0.0
    return True, side, cash2, pos2, debt2, fc2, fsize, fprice, ffees


# ------------------------------------------------------------------ signals
@njit(cache=True)
def stop_price_nb(position, init_price, stop, open_, low, high, hit_below):  # pragma: no cover - compiled
    """vectorbt's get_stop_price_nb: the fill price of a stop hit in this bar (the open
    when the bar gaps through it), NaN when not hit."""
    if (position > 0 and hit_below) or (position < 0 and not hit_below):
        sp = init_price * (1.0 - stop)
        if open_ <= sp:
            return open_
        if low <= sp and sp <= high:
            return sp
        return np.nan
    if (position < 0 and hit_below) or (position > 0 and not hit_below):
        sp = init_price * (1.0 + stop)
        if sp <= open_:
            return open_
        if low <= sp and sp <= high:
            return sp
        return np.nan
    return np.nan


@njit(cache=True)
def signals_to_size_nb(position, le, lx, se, sx, size, size_type, accumulate, val_price):  # pragma: no cover
    """vectorbt's signals_to_size_nb (TargetPercent passes through as a target).
    Returns (order size, size type, order direction, error)."""
    order_size = 0.0
    direction = D_BOTH
    err = ERR_NONE
    abs_pos = abs(position)
    if position > 0:
        if se:
            if accumulate == ACC_BOTH or accumulate == ACC_REMOVEONLY:
                order_size = -size
            elif size_type == ST_TARGETPERCENT:
                order_size = -size
            else:
                order_size = -abs_pos
                if not np.isnan(size):
                    if size_type == ST_PERCENT:
                        err = ERR_PERCENT_REVERSAL
                    elif size_type == ST_VALUE:
                        order_size -= size / val_price
                    else:
                        order_size -= size
                size_type = ST_AMOUNT
        elif lx:
            direction = D_LONG
            if accumulate == ACC_BOTH or accumulate == ACC_REMOVEONLY:
                order_size = -size
            else:
                order_size = -abs_pos
                size_type = ST_AMOUNT
        elif le:
            direction = D_LONG
            if accumulate == ACC_BOTH or accumulate == ACC_ADDONLY or size_type == ST_TARGETPERCENT:
                order_size = size
    elif position < 0:
        if le:
            if accumulate == ACC_BOTH or accumulate == ACC_REMOVEONLY:
                order_size = size
            elif size_type == ST_TARGETPERCENT:
                order_size = size
            else:
                order_size = abs_pos
                if not np.isnan(size):
                    if size_type == ST_PERCENT:
                        err = ERR_PERCENT_REVERSAL
                    elif size_type == ST_VALUE:
                        order_size += size / val_price
                    else:
                        order_size += size
                size_type = ST_AMOUNT
        elif sx:
            direction = D_SHORT
            if accumulate == ACC_BOTH or accumulate == ACC_REMOVEONLY:
                order_size = size
            else:
                order_size = abs_pos
                size_type = ST_AMOUNT
        elif se:
            direction = D_SHORT
            if accumulate == ACC_BOTH or accumulate == ACC_ADDONLY or size_type == ST_TARGETPERCENT:
                order_size = -size
    else:
        if le:
            order_size = size
        elif se:
            order_size = -size
    return order_size, size_type, direction, err


@njit(cache=True)
def map_signals_nb(e, x, se_in, sx_in, ls_mode, user_dir):  # pragma: no cover - compiled
    """Direction mode (entries/exits + direction) or long/short mode to the four
    direction-aware signals, as vectorbt does."""
    if ls_mode:
        return e, x, se_in, sx_in
    if not (e or x):
        return False, False, False, False
    if user_dir == D_LONG:
        return e, x, False, False
    if user_dir == D_SHORT:
        return False, False, e, x
    return e, False, x, False


# ------------------------------------------------------------------ the per-bar step (shared)
@njit(cache=True)
def order_step_nb(pos, debt, cash, free_cash, sl_price, sl_stop, sl_trail, tp_price, tp_stop,
                  le, lx, se, sx, o, h, l, c, val_price,
                  size, size_type, accumulate, fees, fixed_fees, slippage,
                  new_sl_stop, new_sl_trail, new_tp_stop):  # pragma: no cover - compiled
    """One bar of one column: stops first (checked against open/high/low, trailing
    peak updated after the check), else the bar's signals (conflicts ignored,
    opposite entry reverses), then the order at the close (or at the stop price,
    no slippage) and the stop state for the new position.

    State in and out: pos, debt, cash, free_cash, sl_price, sl_stop, sl_trail,
    tp_price, tp_stop. Also out: filled, side, fill size, fill price, fill fees,
    reason, error. `val_price` is the last finite close up to this bar.
    """
    stop_px = np.nan
    reason = R_SIGNAL
    if not np.isnan(sl_stop) or not np.isnan(tp_stop):
        _o = o
        _l = l
        _h = h
        if np.isnan(_o):
            _o = c
        if np.isnan(_l):
            _l = min(_o, c)
        if np.isnan(_h):
            _h = max(_o, c)
        if not np.isnan(sl_stop):
            stop_px = stop_price_nb(pos, sl_price, sl_stop, _o, _l, _h, True)
            if not np.isnan(stop_px):
                reason = R_TSL if sl_trail else R_SL
        if np.isnan(stop_px) and not np.isnan(tp_stop):
            stop_px = stop_price_nb(pos, tp_price, tp_stop, _o, _l, _h, False)
            if not np.isnan(stop_px):
                reason = R_TP
        if not np.isnan(sl_stop) and sl_trail:
            if pos > 0:
                if _h > sl_price:
                    sl_price = _h
            elif pos < 0:
                if _l < sl_price:
                    sl_price = _l
    acc = accumulate
    price = c
    slip = slippage
    if not np.isnan(stop_px):
        # upon_stop_exit = close: exit the position, accumulation off
        le = pos < 0
        lx = pos > 0
        se = False
        sx = False
        if pos < 0:
            le = False
            sx = True
        acc = ACC_DISABLED
        price = stop_px
        slip = 0.0  # stop_exit_price = stoplimit
    else:
        # conflicts between entry and exit, and long and short entry: ignore both
        if le and lx:
            le = False
            lx = False
        if se and sx:
            se = False
            sx = False
        if le and se:
            le = False
            se = False
        # upon_opposite_entry = reversereduce: the signals and accumulation stay as they are
    osize, ostype, odir, err = signals_to_size_nb(pos, le, lx, se, sx, size, size_type, acc, val_price)
    filled = False
    side = SIDE_BUY
    fsize = 0.0
    fprice = 0.0
    ffees = 0.0
    if osize != 0 and err == ERR_NONE:
        if odir == D_SHORT:
            osize = -osize
        value = cash
        if pos != 0:
            value += pos * val_price
        pos0 = pos
        filled, side, cash, pos, debt, free_cash, fsize, fprice, ffees = execute_nb(
            cash, pos, debt, free_cash, val_price, value, osize, ostype, odir, price, fees, fixed_fees, slip)
        if filled:
            if pos == 0:
                sl_price = np.nan
                sl_stop = np.nan
                sl_trail = False
                tp_price = np.nan
                tp_stop = np.nan
            elif pos0 == 0 or np.sign(pos) != np.sign(pos0):
                sl_price = c
                sl_stop = new_sl_stop
                sl_trail = new_sl_trail
                tp_price = c
                tp_stop = new_tp_stop
            elif abs(pos) > abs(pos0):
                if not np.isnan(new_sl_stop):
                    sl_price = c
                    sl_stop = new_sl_stop
                    sl_trail = new_sl_trail
                if not np.isnan(new_tp_stop):
                    tp_price = c
                    tp_stop = new_tp_stop
    return (pos, debt, cash, free_cash, sl_price, sl_stop, sl_trail, tp_price, tp_stop,
            filled, side, fsize, fprice, ffees, reason, err)


@njit(cache=True, nogil=True, inline="always")
def bar_ohlc_nb(has_ohlc, open_, high, low, i, col):  # pragma: no cover - compiled
    """(open, high, low) of bar i of a column, NaN when no OHLC was given (stops then use the close)."""
    if has_ohlc:
        return open_[i, col], high[i, col], low[i, col]
    return np.nan, np.nan, np.nan


@njit(cache=True)
def last_valid_nb(close, i, col, last_val, last_i):  # pragma: no cover - compiled
    """The last finite close at or before bar i, given the last one known at or
    before bar last_i (searched backwards only over bars not yet seen)."""
    j = i
    while j > last_i:
        v = close[j, col]
        if not np.isnan(v):
            return v
        j -= 1
    return last_val


# ------------------------------------------------------------------ from_signals kernel
@njit(cache=True, nogil=True)
def any_signal_nb(entries, exits, short_entries, short_exits, ls_mode, i, c):  # pragma: no cover - compiled
    """Bar i, column (or 8-column word) c: entries | exits (| the short signals)."""
    if ls_mode:
        return entries[i, c] | exits[i, c] | short_entries[i, c] | short_exits[i, c]
    return entries[i, c] | exits[i, c]


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def signal_words_u64_nb(entries, exits, short_entries, short_exits, ls_mode):  # pragma: no cover - compiled
    """`signal_bits` for signals viewed as uint64 words of 8 columns ((T, N / 8), N a multiple of
    8). 8 rows of a word OR-ed together, each shifted by its row, give the packed byte of 8 bars of
    each of its 8 columns (an 8 x 8 bit transpose in 15 operations); 8 such words are then
    regrouped by column into each column's 64-bar word."""
    n_bars, n_k = entries.shape
    n_words = (n_bars + WORD_BITS - 1) // WORD_BITS
    out = np.zeros((n_k * 8, n_words), dtype=np.uint64)
    kc = BITS_COLS // 8
    n_wb = (n_words + BITS_WORDS - 1) // BITS_WORDS
    n_kb = (n_k + kc - 1) // kc
    for task in prange(n_wb * n_kb):
        k0 = (task % n_kb) * kc
        w0 = (task // n_kb) * BITS_WORDS
        rows = np.empty(8, dtype=np.uint64)  # the packed bytes of 8 x 8 bars, by 8-bar group
        for w in range(w0, min(w0 + BITS_WORDS, n_words)):
            i0 = w * WORD_BITS
            full = i0 + WORD_BITS <= n_bars
            for k in range(k0, min(k0 + kc, n_k)):
                for g in range(8):
                    r = np.uint64(0)
                    i = i0 + 8 * g
                    if full and ls_mode:  # constant trip counts: unrolled
                        for j in range(8):
                            r |= (entries[i + j, k] | exits[i + j, k] | short_entries[i + j, k]
                                  | short_exits[i + j, k]) << np.uint64(j)
                    elif full:
                        for j in range(8):
                            r |= (entries[i + j, k] | exits[i + j, k]) << np.uint64(j)
                    else:
                        for j in range(max(0, min(8, n_bars - i))):
                            r |= any_signal_nb(entries, exits, short_entries, short_exits, ls_mode, i + j,
                                               k) << np.uint64(j)
                    rows[g] = r
                for q in range(8):
                    word = np.uint64(0)
                    for g in range(8):
                        word |= ((rows[g] >> np.uint64(8 * q)) & np.uint64(0xFF)) << np.uint64(8 * g)
                    out[8 * k + q, w] = word
    return out


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def signal_words_u8_nb(entries, exits, short_entries, short_exits, ls_mode):  # pragma: no cover - compiled
    """`signal_bits` for any column count (signals viewed as uint8): per 64-bar word, a loop over
    a chunk of columns (SIMD across them) for each bar."""
    n_bars, n_cols = entries.shape
    n_words = (n_bars + WORD_BITS - 1) // WORD_BITS
    out = np.zeros((n_cols, n_words), dtype=np.uint64)
    n_wb = (n_words + BITS_WORDS - 1) // BITS_WORDS
    n_cb = (n_cols + BITS_COLS - 1) // BITS_COLS
    for task in prange(n_wb * n_cb):
        c0 = (task % n_cb) * BITS_COLS
        c1 = min(c0 + BITS_COLS, n_cols)
        w0 = (task // n_cb) * BITS_WORDS
        acc = np.empty(c1 - c0, dtype=np.uint64)
        for w in range(w0, min(w0 + BITS_WORDS, n_words)):
            acc[:] = 0
            i0 = w * WORD_BITS
            for i in range(i0, min(i0 + WORD_BITS, n_bars)):
                sh = np.uint64(i - i0)
                for c in range(c0, c1):
                    acc[c - c0] |= np.uint64(any_signal_nb(entries, exits, short_entries, short_exits, ls_mode,
                                                           i, c)) << sh
            for c in range(c0, c1):
                out[c, w] = acc[c - c0]
    return out


def signal_bits(entries: np.ndarray, exits: np.ndarray, short_entries: np.ndarray, short_exits: np.ndarray,
                ls_mode: bool) -> np.ndarray:
    """(N, ceil(T / 64)) uint64: per column, bit i % 64 of word i // 64 set where bar i has any
    signal. One pass reads the (T, N) signals row by row (contiguous); a column's simulation then
    reads T / 8 bytes of its own instead of every column's signal bytes (a column of a C-ordered
    T x N bool array is strided by N bytes). Bytes and words as on little-endian machines."""
    if sys.byteorder != "little":
        raise NotImplementedError("the orders engine's signal bitmaps assume a little-endian machine")
    sig = (entries, exits, short_entries, short_exits)
    if entries.shape[1] % 8 == 0 and all(a.flags.c_contiguous and a.shape == entries.shape for a in sig):
        return signal_words_u64_nb(*(a.view(np.uint64) for a in sig), ls_mode)
    return signal_words_u8_nb(*(a.view(np.uint8) for a in sig), ls_mode)


@njit(cache=True, nogil=True)
def popcount_nb(x):  # pragma: no cover - compiled
    """Set bits of a uint64 (SWAR)."""
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@njit(cache=True, nogil=True)
def lowest_bit_nb(x):  # pragma: no cover - compiled
    """Index of the lowest set bit of a nonzero uint64."""
    low = x & (~x + np.uint64(1))
    return DEBRUIJN_INDEX[(low * DEBRUIJN64) >> np.uint64(58)]


@njit(cache=True, nogil=True, parallel=True)
def count_signal_bars_nb(bits, group_start, group_end):  # pragma: no cover - compiled
    """Per group: bars x columns with any signal (bounds the group's orders), from `signal_bits`."""
    n_groups = group_start.shape[0]
    out = np.zeros(n_groups, dtype=np.int64)
    for g in prange(n_groups):
        cnt = 0
        for col in range(group_start[g], group_end[g]):
            for w in range(bits.shape[1]):
                cnt += popcount_nb(bits[col, w])
        out[g] = cnt
    return out


@njit(cache=True, nogil=True)
def next_signal_bar_nb(bits, col, i, n_bars):  # pragma: no cover - compiled
    """The first bar >= i of column `col` with a signal (n_bars when none)."""
    w = i // WORD_BITS
    n_words = bits.shape[1]
    if w >= n_words:
        return n_bars
    word = bits[col, w] & (~np.uint64(0) << np.uint64(i - w * WORD_BITS))
    while word == 0:
        w += 1
        if w >= n_words:
            return n_bars
        word = bits[col, w]
    return w * WORD_BITS + lowest_bit_nb(word)


@njit(cache=True, nogil=True)
def simulate_column_nb(close, open_, high, low, has_ohlc, entries, exits, short_entries, short_exits, ls_mode,
                       bits, col, user_dir, size, size_type, fees, fixed_fees, slippage, sl_stop, sl_trail, tp_stop,
                       accumulate, init_cash, k, cap, o_idx, o_col, o_size, o_price, o_fees, o_side,
                       o_reason):  # pragma: no cover - compiled
    """One column without cash sharing: state in locals, and bars with no signal (and
    no position, or no active stop) skipped 64 at a time through the column's signal bitmap
    (`bits`, from `signal_bits`).
    The same steps as the group loop of simulate_from_signals_nb. Returns (next k, error)."""
    n_bars = close.shape[0]
    pos = 0.0
    debt = 0.0
    cash = init_cash
    free_cash = init_cash
    sl_price = np.nan
    sl_cur = np.nan
    sl_tr = False
    tp_price = np.nan
    tp_cur = np.nan
    last_val = np.nan
    last_i = -1
    err = ERR_NONE
    udir = user_dir[col]
    i = 0
    while i < n_bars:
        if pos == 0 or (np.isnan(sl_cur) and np.isnan(tp_cur)):  # nothing can happen before a signal
            i = next_signal_bar_nb(bits, col, i, n_bars)
            if i >= n_bars:
                break
        e = entries[i, col]
        x = exits[i, col]
        se_in = False
        sx_in = False
        if ls_mode:
            se_in = short_entries[i, col]
            sx_in = short_exits[i, col]
        le, lx, se, sx = map_signals_nb(e, x, se_in, sx_in, ls_mode, udir)
        c = close[i, col]
        last_val = last_valid_nb(close, i, col, last_val, last_i)
        last_i = i
        o, h, lo = bar_ohlc_nb(has_ohlc, open_, high, low, i, col)
        (pos, debt, cash, free_cash, sl_price, sl_cur, sl_tr, tp_price, tp_cur,
         filled, side, fsize, fprice, ffees, reason, e_code) = order_step_nb(
            pos, debt, cash, free_cash, sl_price, sl_cur, sl_tr, tp_price, tp_cur,
            le, lx, se, sx, o, h, lo, c, last_val,
            size[col], size_type[col], accumulate[col], fees[col], fixed_fees[col], slippage[col],
            sl_stop[col], sl_trail[col], tp_stop[col])
        if e_code != ERR_NONE and err == ERR_NONE:
            err = e_code
        if filled:
            if k >= cap:
                err = ERR_CAPACITY
            else:
                o_idx[k] = i
                o_col[k] = col
                o_size[k] = fsize
                o_price[k] = fprice
                o_fees[k] = ffees
                o_side[k] = side
                o_reason[k] = reason
                k += 1
        i += 1
    return k, err


@njit(cache=True, nogil=True, parallel=True)
def simulate_from_signals_nb(close, open_, high, low, entries, exits, short_entries, short_exits, ls_mode, bits,
                             user_dir, size, size_type, fees, fixed_fees, slippage, sl_stop, sl_trail, tp_stop,
                             accumulate, group_start, group_end, init_cash, offsets,
                             o_idx, o_col, o_size, o_price, o_fees, o_side, o_reason):  # pragma: no cover
    """Simulate every group (one column per group without cash sharing), bars in
    order, the group's columns in order within a bar. Per-column parameters are
    (N,) arrays; open/high/low are (T, N) or (1, 1) NaN when not given; `bits` is
    `signal_bits` of the signals.

    Group g writes its orders from offsets[g] up to offsets[g + 1]. Returns
    (orders written per group, error code per group)."""
    n_bars = close.shape[0]
    n_groups = group_start.shape[0]
    counts = np.zeros(n_groups, dtype=np.int64)
    errors = np.zeros(n_groups, dtype=np.int64)
    has_ohlc = open_.shape[0] == n_bars
    for g in prange(n_groups):
        c0 = group_start[g]
        c1 = group_end[g]
        glen = c1 - c0
        if glen == 1:
            k1, err1 = simulate_column_nb(close, open_, high, low, has_ohlc, entries, exits, short_entries,
                                          short_exits, ls_mode, bits, c0, user_dir, size, size_type, fees, fixed_fees,
                                          slippage, sl_stop, sl_trail, tp_stop, accumulate, init_cash[g],
                                          offsets[g], offsets[g + 1], o_idx, o_col, o_size, o_price, o_fees,
                                          o_side, o_reason)
            counts[g] = k1 - offsets[g]
            errors[g] = err1
            continue
        pos = np.zeros(glen)
        debt = np.zeros(glen)
        sl_price = np.full(glen, np.nan)
        sl_cur = np.full(glen, np.nan)
        sl_tr = np.zeros(glen, dtype=np.bool_)
        tp_price = np.full(glen, np.nan)
        tp_cur = np.full(glen, np.nan)
        last_val = np.full(glen, np.nan)
        last_i = np.full(glen, -1, dtype=np.int64)
        cash = init_cash[g]
        free_cash = init_cash[g]
        k = offsets[g]
        cap = offsets[g + 1]
        err = ERR_NONE
        for i in range(n_bars):
            for j in range(glen):
                col = c0 + j
                e = entries[i, col]
                x = exits[i, col]
                se_in = False
                sx_in = False
                if ls_mode:
                    se_in = short_entries[i, col]
                    sx_in = short_exits[i, col]
                    if not (e or x or se_in or sx_in):
                        if pos[j] == 0 or (np.isnan(sl_cur[j]) and np.isnan(tp_cur[j])):
                            continue
                elif not (e or x):
                    if pos[j] == 0 or (np.isnan(sl_cur[j]) and np.isnan(tp_cur[j])):
                        continue
                le, lx, se, sx = map_signals_nb(e, x, se_in, sx_in, ls_mode, user_dir[col])
                c = close[i, col]
                vp = last_valid_nb(close, i, col, last_val[j], last_i[j])
                last_val[j] = vp
                last_i[j] = i
                o, h, lo = bar_ohlc_nb(has_ohlc, open_, high, low, i, col)
                (p, d, cash, free_cash, slp, sls, slt, tpp, tps,
                 filled, side, fsize, fprice, ffees, reason, e_code) = order_step_nb(
                    pos[j], debt[j], cash, free_cash, sl_price[j], sl_cur[j], sl_tr[j], tp_price[j], tp_cur[j],
                    le, lx, se, sx, o, h, lo, c, vp,
                    size[col], size_type[col], accumulate[col], fees[col], fixed_fees[col], slippage[col],
                    sl_stop[col], sl_trail[col], tp_stop[col])
                pos[j] = p
                debt[j] = d
                sl_price[j] = slp
                sl_cur[j] = sls
                sl_tr[j] = slt
                tp_price[j] = tpp
                tp_cur[j] = tps
                if e_code != ERR_NONE and err == ERR_NONE:
                    err = e_code
                if filled:
                    if k >= cap:
                        err = ERR_CAPACITY
                    else:
                        o_idx[k] = i
                        o_col[k] = col
                        o_size[k] = fsize
                        o_price[k] = fprice
                        o_fees[k] = ffees
                        o_side[k] = side
                        o_reason[k] = reason
                        k += 1
        counts[g] = k - offsets[g]
        errors[g] = err
    return counts, errors


# ------------------------------------------------------------------ series from records (lazy outputs)
@njit(cache=True)
def ffill_close_nb(close):  # pragma: no cover - compiled
    """Close forward-filled, then back-filled before the first value (vectorbt's
    fillna_close), for valuation."""
    n_bars, n_cols = close.shape
    out = np.empty_like(close)
    for col in range(n_cols):
        last = np.nan
        first = -1
        for i in range(n_bars):
            v = close[i, col]
            if not np.isnan(v):
                last = v
                if first < 0:
                    first = i
            out[i, col] = last
        if first > 0:
            for i in range(first):
                out[i, col] = out[first, col]
    return out


@njit(cache=True)
def flows_nb(n_bars, n_cols, o_idx, o_col, o_size, o_price, o_fees, o_side):  # pragma: no cover - compiled
    """Per-bar asset flow and cash flow per column from order records (ordered by
    column within each bar's group, as written)."""
    asset_flow = np.zeros((n_bars, n_cols))
    cash_flow = np.zeros((n_bars, n_cols))
    for k in range(o_idx.shape[0]):
        i = o_idx[k]
        col = o_col[k]
        sz = o_size[k]
        if o_side[k] == SIDE_SELL:
            sz = -sz
        asset_flow[i, col] = add_nb(asset_flow[i, col], sz)
        cash_flow[i, col] = add_nb(cash_flow[i, col], -sz * o_price[k] - o_fees[k])
    return asset_flow, cash_flow


@njit(cache=True)
def cumulate_nb(flow, init):  # pragma: no cover - compiled
    """init + running sum of flow per column, with vectorbt's snapping to 0."""
    out = np.empty_like(flow)
    for col in range(flow.shape[1]):
        now = init[col]
        for i in range(flow.shape[0]):
            now = add_nb(now, flow[i, col])
            out[i, col] = now
    return out


@njit(cache=True)
def exit_trades_nb(o_idx, o_col, o_size, o_price, o_fees, o_side, o_reason, col_start, col_len, close_last,
                   n_bars, out):  # pragma: no cover - compiled
    """vectorbt's get_exit_trades_nb over one column's orders at a time (orders of a
    column in time order: col_start / col_len index a column-sorted permutation
    applied by the caller). Fills `out` (trade_dt) and returns the count."""
    t = 0
    parent = -1
    for col in range(col_len.shape[0]):
        n = col_len[col]
        if n == 0:
            continue
        in_pos = False
        direction = 0
        entry_idx = -1
        size_sum = 0.0
        gross_sum = 0.0
        fees_sum = 0.0
        for q in range(col_start[col], col_start[col] + n):
            i = o_idx[q]
            sz = o_size[q]
            px = o_price[q]
            fe = o_fees[q]
            sd = o_side[q]
            if not in_pos:
                in_pos = True
                entry_idx = i
                direction = 0 if sd == SIDE_BUY else 1
                parent += 1
                size_sum = 0.0
                gross_sum = 0.0
                fees_sum = 0.0
            if (direction == 0 and sd == SIDE_BUY) or (direction == 1 and sd == SIDE_SELL):
                size_sum += sz
                gross_sum += sz * px
                fees_sum += fe
            elif is_close_or_less_nb(sz, size_sum):
                exit_size = size_sum if is_close_nb(sz, size_sum) else sz
                entry_price = gross_sum / size_sum
                entry_fees = exit_size / size_sum * fees_sum
                _fill_trade_nb(out[t], t, col, exit_size, entry_idx, entry_price, entry_fees, i, px, fe, direction,
                               1, parent, o_reason[q])
                t += 1
                if is_close_nb(sz, size_sum):
                    in_pos = False
                    entry_idx = -1
                else:
                    frac = (size_sum - sz) / size_sum
                    size_sum *= frac
                    gross_sum *= frac
                    fees_sum *= frac
            else:
                cl_size = size_sum
                cl_fees = cl_size / sz * fe
                entry_price = gross_sum / size_sum
                entry_fees = cl_size / size_sum * fees_sum
                _fill_trade_nb(out[t], t, col, cl_size, entry_idx, entry_price, entry_fees, i, px, cl_fees, direction,
                               1, parent, o_reason[q])
                t += 1
                size_sum = sz - cl_size
                gross_sum = size_sum * px
                fees_sum = fe - cl_fees
                entry_idx = i
                direction = 1 - direction
                parent += 1
        if in_pos and is_less_nb(-size_sum, 0.0):
            entry_price = gross_sum / size_sum
            _fill_trade_nb(out[t], t, col, size_sum, entry_idx, entry_price, fees_sum, n_bars - 1, close_last[col],
                           0.0, direction, 0, parent, -1)
            t += 1
    return t


@njit(cache=True)
def _fill_trade_nb(rec, tid, col, size, entry_idx, entry_price, entry_fees, exit_idx, exit_price, exit_fees,
                   direction, status, parent, reason):  # pragma: no cover - compiled
    entry_val = size * entry_price
    exit_val = size * exit_price
    diff = add_nb(exit_val, -entry_val)
    if diff != 0 and direction == 1:
        diff = -diff
    pnl = diff - entry_fees - exit_fees
    rec["id"] = tid
    rec["col"] = col
    rec["size"] = size
    rec["entry_idx"] = entry_idx
    rec["entry_price"] = entry_price
    rec["entry_fees"] = entry_fees
    rec["exit_idx"] = exit_idx
    rec["exit_price"] = exit_price
    rec["exit_fees"] = exit_fees
    rec["pnl"] = pnl
    rec["return"] = pnl / entry_val
    rec["direction"] = direction
    rec["status"] = status
    rec["parent_id"] = parent
    rec["exit_reason"] = reason
