"""GPU backend of the orders engine: CUDA (CuPy RawModule), one thread per column,
or per group of columns with cash sharing.

`STEP_SRC` holds the per-bar logic of one column as `__device__` functions
(`order_step` and what it calls), a line-by-line port of `cpu.order_step_nb`; the
from_signals kernels here and the sweep kernel (`sweep_gpu.py`) include the same
source, so the simulation is written once per backend. Compiled with
`--fmad=false`: no fused multiply-add, so every operation rounds as on the CPU and
the records are the CPU's bit for bit.

A first kernel packs the signals into one bit per (column, bar) (`signal_bits`,
coalesced over columns), so that a column's thread skips the bars where nothing can
happen 64 at a time instead of reading every bar's signal bytes. Orders are written
as columns of arrays into per-group regions (capacity 2 x signal bars + 1 per group,
as on the CPU, counted from the bitmap) and compacted on the device before one copy
to the host.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from kernels.backtest.orders.enums import ABS_TOL, MIN_SIZE, REL_TOL

STEP_SRC = r"""
#define REL_TOL %(rel)r
#define ABS_TOL %(abs)r
#define MIN_SIZE %(min)r
#define ST_AMOUNT 0
#define ST_VALUE 1
#define ST_PERCENT 2
#define ST_TARGETPERCENT 3
#define D_LONG 0
#define D_SHORT 1
#define D_BOTH 2
#define ACC_DISABLED 0
#define ACC_BOTH 1
#define ACC_ADDONLY 2
#define ACC_REMOVEONLY 3
#define SIDE_BUY 0
#define SIDE_SELL 1
#define R_SIGNAL 0
#define R_SL 1
#define R_TSL 2
#define R_TP 3
#define ERR_NONE 0
#define ERR_PERCENT_REVERSAL 1
#define ERR_CAPACITY 2

struct ColState {
    double pos, debt, sl_price, sl_stop, tp_price, tp_stop;
    bool sl_trail;
};

struct Fill {
    bool filled;
    int side;
    double size, price, fees;
    int reason;
    int err;
};

struct Exec {
    bool ok;
    double cash, pos, debt, free_cash, size, price, fees;
};

__device__ __forceinline__ double pymax(double a, double b) { return (b > a) ? b : a; }
__device__ __forceinline__ double pymin(double a, double b) { return (b < a) ? b : a; }
__device__ __forceinline__ double sgn(double x) { return isnan(x) ? x : (double)((x > 0) - (x < 0)); }

__device__ __forceinline__ bool is_close(double a, double b) {
    if (isnan(a) || isnan(b) || isinf(a) || isinf(b)) return false;
    if (a == b) return true;
    return fabs(a - b) <= pymax(REL_TOL * pymax(fabs(a), fabs(b)), ABS_TOL);
}
__device__ __forceinline__ bool is_close_or_less(double a, double b) { return is_close(a, b) ? true : a < b; }
__device__ __forceinline__ bool is_less(double a, double b) { return is_close(a, b) ? false : a < b; }
__device__ __forceinline__ double add(double a, double b) {
    if (sgn(a) != sgn(b)) {
        if (is_close(fabs(a), fabs(b))) return 0.0;
    } else if (is_close(a + b, 0.0)) {
        return 0.0;
    }
    return a + b;
}

// vectorbt's get_return_nb: the return from value prev to v (sign flipped when prev < 0)
__device__ __forceinline__ double value_return(double prev, double v) {
    if (prev == 0) return (v == 0) ? 0.0 : sgn(v) * CUDART_INF;
    const double r = (v - prev) / prev;
    return (prev < 0) ? -r : r;
}

__device__ Exec not_filled(double cash, double pos, double debt, double free_cash) {
    Exec e; e.ok = false; e.cash = cash; e.pos = pos; e.debt = debt; e.free_cash = free_cash;
    e.size = 0.0; e.price = 0.0; e.fees = 0.0; return e;
}

__device__ Exec buy(double cash, double position, double debt, double free_cash, double size, double price,
                    int direction, double fees, double fixed_fees, double slippage, double percent) {
    double adj_price = price * (1.0 + slippage);
    double cash_limit = cash;
    if (!isnan(percent)) cash_limit = pymin(cash_limit, percent * cash_limit);
    if (direction == D_LONG || direction == D_BOTH) {
        if (cash_limit == 0) return not_filled(cash, position, debt, free_cash);
    } else {
        if (position == 0) return not_filled(cash, position, debt, free_cash);
    }
    double adj_size = (direction == D_SHORT) ? pymin(-position, size) : size;
    if (adj_size == 0) return not_filled(cash, position, debt, free_cash);
    double req_cash = adj_size * adj_price;
    double req_fees = req_cash * fees + fixed_fees;
    double total_req_cash = req_cash + req_fees;
    double final_size, fees_paid, final_req_cash;
    if (is_close_or_less(total_req_cash, cash_limit)) {
        final_size = adj_size; fees_paid = req_fees; final_req_cash = total_req_cash;
    } else {
        double max_req_cash = add(cash_limit, -fixed_fees) / (1.0 + fees);
        if (max_req_cash <= 0) return not_filled(cash, position, debt, free_cash);
        final_size = max_req_cash / adj_price;
        fees_paid = cash_limit - max_req_cash;
        final_req_cash = cash_limit;
    }
    if (is_close(adj_size, 0.0)) return not_filled(cash, position, debt, free_cash);
    if (is_less(final_size, MIN_SIZE)) return not_filled(cash, position, debt, free_cash);
    Exec e; e.ok = true;
    e.cash = add(cash, -final_req_cash);
    e.pos = add(position, final_size);
    if (position < 0) {
        double short_size = (e.pos < 0) ? final_size : fabs(position);
        double avg_entry_price = debt / fabs(position);
        double debt_diff = short_size * avg_entry_price;
        e.debt = add(debt, -debt_diff);
        e.free_cash = add(free_cash + 2.0 * debt_diff, -final_req_cash);
    } else {
        e.debt = debt;
        e.free_cash = add(free_cash, -final_req_cash);
    }
    e.size = final_size; e.price = adj_price; e.fees = fees_paid;
    return e;
}

__device__ Exec sell(double cash, double position, double debt, double free_cash, double size, double price,
                     int direction, double fees, double fixed_fees, double slippage, double percent) {
    double adj_price = price * (1.0 - slippage);
    double size_limit;
    if (direction == D_LONG) {
        size_limit = pymin(position, size);
    } else {
        if (isinf(size) && !isnan(percent)) {
            double long_size = pymax(position, 0.0);
            double long_cash = long_size * adj_price * (1.0 - fees);
            double total_free_cash = add(free_cash, long_cash);
            double max_size_limit;
            if (total_free_cash <= 0) {
                if (position <= 0) return not_filled(cash, position, debt, free_cash);
                max_size_limit = long_size;
            } else {
                double max_short_size = add(total_free_cash, -fixed_fees) / (adj_price * (1.0 + fees));
                max_size_limit = add(long_size, max_short_size);
                if (max_size_limit <= 0) return not_filled(cash, position, debt, free_cash);
            }
            size_limit = max_size_limit;
        } else {
            size_limit = size;
        }
    }
    if (!isnan(percent)) size_limit = percent * size_limit;
    if (direction == D_LONG) {
        if (position == 0) return not_filled(cash, position, debt, free_cash);
    }
    if (is_close(size_limit, 0.0)) return not_filled(cash, position, debt, free_cash);
    if (is_less(size_limit, MIN_SIZE)) return not_filled(cash, position, debt, free_cash);
    double acq_cash = size_limit * adj_price;
    double fees_paid = acq_cash * fees + fixed_fees;
    double final_acq_cash = add(acq_cash, -fees_paid);
    if (final_acq_cash < 0) return not_filled(cash, position, debt, free_cash);
    Exec e; e.ok = true;
    e.cash = cash + final_acq_cash;
    e.pos = add(position, -size_limit);
    if (e.pos < 0) {
        double short_size = (position < 0) ? size_limit : fabs(e.pos);
        double short_value = short_size * adj_price;
        e.debt = debt + short_value;
        e.free_cash = add(free_cash, add(final_acq_cash, -2.0 * short_value));
    } else {
        e.debt = debt;
        e.free_cash = free_cash + final_acq_cash;
    }
    e.size = size_limit; e.price = adj_price; e.fees = fees_paid;
    return e;
}

// execute_nb: returns the (snapped) state in e even when not filled; side in *side
__device__ Exec execute(double cash, double position, double debt, double free_cash, double val_price,
                        double value, double size, int size_type, int direction, double price, double fees,
                        double fixed_fees, double slippage, int* side) {
    if (is_close(cash, 0.0)) cash = 0.0;
    if (is_close(position, 0.0)) position = 0.0;
    if (is_close(debt, 0.0)) debt = 0.0;
    if (is_close(free_cash, 0.0)) free_cash = 0.0;
    if (is_close(val_price, 0.0)) val_price = 0.0;
    if (is_close(value, 0.0)) value = 0.0;
    *side = SIDE_BUY;
    if (isnan(size) || isnan(price)) return not_filled(cash, position, debt, free_cash);
    double order_size = size;
    if (direction == D_SHORT) order_size = -order_size;
    int st = size_type;
    if (st == ST_TARGETPERCENT) {
        if (isnan(value) || value <= 0) return not_filled(cash, position, debt, free_cash);
        order_size = order_size * value;
        st = 4;
    }
    if (st == ST_VALUE || st == 4) {
        if (isnan(val_price) || val_price <= 0) return not_filled(cash, position, debt, free_cash);
        order_size = order_size / val_price;
        st = (st == ST_VALUE) ? ST_AMOUNT : 5;
    }
    if (st == 5) { order_size = order_size - position; st = ST_AMOUNT; }
    if (st == ST_AMOUNT) {
        if (direction == D_SHORT || direction == D_BOTH) {
            if (order_size < 0 && isinf(order_size)) { order_size = -1.0; st = ST_PERCENT; }
        }
    }
    double percent = CUDART_NAN;
    if (st == ST_PERCENT) {
        percent = fabs(order_size);
        order_size = sgn(order_size) * CUDART_INF;
    }
    Exec e;
    if (order_size > 0) {
        e = buy(cash, position, debt, free_cash, order_size, price, direction, fees, fixed_fees, slippage, percent);
        *side = SIDE_BUY;
    } else {
        e = sell(cash, position, debt, free_cash, -order_size, price, direction, fees, fixed_fees, slippage, percent);
        *side = SIDE_SELL;
    }
    if (!e.ok) return not_filled(cash, position, debt, free_cash);
    return e;
}

__device__ __forceinline__ double stop_price(double position, double init_price, double stop, double open_,
                                             double low, double high, bool hit_below) {
    if ((position > 0 && hit_below) || (position < 0 && !hit_below)) {
        double sp = init_price * (1.0 - stop);
        if (open_ <= sp) return open_;
        if (low <= sp && sp <= high) return sp;
        return CUDART_NAN;
    }
    if ((position < 0 && hit_below) || (position > 0 && !hit_below)) {
        double sp = init_price * (1.0 + stop);
        if (sp <= open_) return open_;
        if (low <= sp && sp <= high) return sp;
        return CUDART_NAN;
    }
    return CUDART_NAN;
}

// signals_to_size_nb: order size, and *size_type / *direction / *err updated
__device__ double signals_to_size(double position, bool le, bool lx, bool se, bool sx, double size,
                                  int* size_type, int accumulate, double val_price, int* direction, int* err) {
    double order_size = 0.0;
    *direction = D_BOTH;
    *err = ERR_NONE;
    double abs_pos = fabs(position);
    if (position > 0) {
        if (se) {
            if (accumulate == ACC_BOTH || accumulate == ACC_REMOVEONLY) {
                order_size = -size;
            } else if (*size_type == ST_TARGETPERCENT) {
                order_size = -size;
            } else {
                order_size = -abs_pos;
                if (!isnan(size)) {
                    if (*size_type == ST_PERCENT) *err = ERR_PERCENT_REVERSAL;
                    else if (*size_type == ST_VALUE) order_size -= size / val_price;
                    else order_size -= size;
                }
                *size_type = ST_AMOUNT;
            }
        } else if (lx) {
            *direction = D_LONG;
            if (accumulate == ACC_BOTH || accumulate == ACC_REMOVEONLY) {
                order_size = -size;
            } else {
                order_size = -abs_pos;
                *size_type = ST_AMOUNT;
            }
        } else if (le) {
            *direction = D_LONG;
            if (accumulate == ACC_BOTH || accumulate == ACC_ADDONLY || *size_type == ST_TARGETPERCENT)
                order_size = size;
        }
    } else if (position < 0) {
        if (le) {
            if (accumulate == ACC_BOTH || accumulate == ACC_REMOVEONLY) {
                order_size = size;
            } else if (*size_type == ST_TARGETPERCENT) {
                order_size = size;
            } else {
                order_size = abs_pos;
                if (!isnan(size)) {
                    if (*size_type == ST_PERCENT) *err = ERR_PERCENT_REVERSAL;
                    else if (*size_type == ST_VALUE) order_size += size / val_price;
                    else order_size += size;
                }
                *size_type = ST_AMOUNT;
            }
        } else if (sx) {
            *direction = D_SHORT;
            if (accumulate == ACC_BOTH || accumulate == ACC_REMOVEONLY) {
                order_size = size;
            } else {
                order_size = abs_pos;
                *size_type = ST_AMOUNT;
            }
        } else if (se) {
            *direction = D_SHORT;
            if (accumulate == ACC_BOTH || accumulate == ACC_ADDONLY || *size_type == ST_TARGETPERCENT)
                order_size = -size;
        }
    } else {
        if (le) order_size = size;
        else if (se) order_size = -size;
    }
    return order_size;
}

__device__ __forceinline__ void map_signals(bool e, bool x, bool se_in, bool sx_in, int ls_mode, int user_dir,
                                            bool* le, bool* lx, bool* se, bool* sx) {
    if (ls_mode) { *le = e; *lx = x; *se = se_in; *sx = sx_in; return; }
    *le = false; *lx = false; *se = false; *sx = false;
    if (!(e || x)) return;
    if (user_dir == D_LONG) { *le = e; *lx = x; }
    else if (user_dir == D_SHORT) { *se = e; *sx = x; }
    else { *le = e; *se = x; }
}

// One bar of one column (cpu.order_step_nb): updates s, cash, free_cash; returns the fill.
__device__ Fill order_step(ColState& s, double& cash, double& free_cash, bool le, bool lx, bool se, bool sx,
                           double o, double h, double l, double c, double val_price, double size, int size_type,
                           int accumulate, double fees, double fixed_fees, double slippage,
                           double new_sl_stop, bool new_sl_trail, double new_tp_stop) {
    double stop_px = CUDART_NAN;
    int reason = R_SIGNAL;
    if (!isnan(s.sl_stop) || !isnan(s.tp_stop)) {
        double _o = o, _l = l, _h = h;
        if (isnan(_o)) _o = c;
        if (isnan(_l)) _l = pymin(_o, c);
        if (isnan(_h)) _h = pymax(_o, c);
        if (!isnan(s.sl_stop)) {
            stop_px = stop_price(s.pos, s.sl_price, s.sl_stop, _o, _l, _h, true);
            if (!isnan(stop_px)) reason = s.sl_trail ? R_TSL : R_SL;
        }
        if (isnan(stop_px) && !isnan(s.tp_stop)) {
            stop_px = stop_price(s.pos, s.tp_price, s.tp_stop, _o, _l, _h, false);
            if (!isnan(stop_px)) reason = R_TP;
        }
        if (!isnan(s.sl_stop) && s.sl_trail) {
            if (s.pos > 0) { if (_h > s.sl_price) s.sl_price = _h; }
            else if (s.pos < 0) { if (_l < s.sl_price) s.sl_price = _l; }
        }
    }
    int acc = accumulate;
    double price = c;
    double slip = slippage;
    if (!isnan(stop_px)) {
        le = false; lx = s.pos > 0; se = false; sx = s.pos < 0;
        acc = ACC_DISABLED;
        price = stop_px;
        slip = 0.0;
    } else {
        if (le && lx) { le = false; lx = false; }
        if (se && sx) { se = false; sx = false; }
        if (le && se) { le = false; se = false; }
    }
    int ostype = size_type, odir, err;
    double osize = signals_to_size(s.pos, le, lx, se, sx, size, &ostype, acc, val_price, &odir, &err);
    Fill f; f.filled = false; f.side = SIDE_BUY; f.size = 0.0; f.price = 0.0; f.fees = 0.0;
    f.reason = reason; f.err = err;
    if (osize != 0 && err == ERR_NONE) {
        if (odir == D_SHORT) osize = -osize;
        double value = cash;
        if (s.pos != 0) value += s.pos * val_price;
        double pos0 = s.pos;
        int side;
        Exec e = execute(cash, s.pos, s.debt, free_cash, val_price, value, osize, ostype, odir, price, fees,
                         fixed_fees, slip, &side);
        cash = e.cash; s.pos = e.pos; s.debt = e.debt; free_cash = e.free_cash;
        f.side = side;
        if (e.ok) {
            f.filled = true; f.size = e.size; f.price = e.price; f.fees = e.fees;
            if (s.pos == 0) {
                s.sl_price = CUDART_NAN; s.sl_stop = CUDART_NAN; s.sl_trail = false;
                s.tp_price = CUDART_NAN; s.tp_stop = CUDART_NAN;
            } else if (pos0 == 0 || sgn(s.pos) != sgn(pos0)) {
                s.sl_price = c; s.sl_stop = new_sl_stop; s.sl_trail = new_sl_trail;
                s.tp_price = c; s.tp_stop = new_tp_stop;
            } else if (fabs(s.pos) > fabs(pos0)) {
                if (!isnan(new_sl_stop)) { s.sl_price = c; s.sl_stop = new_sl_stop; s.sl_trail = new_sl_trail; }
                if (!isnan(new_tp_stop)) { s.tp_price = c; s.tp_stop = new_tp_stop; }
            }
        }
    }
    return f;
}

__device__ __forceinline__ ColState init_state() {
    ColState s; s.pos = 0.0; s.debt = 0.0; s.sl_price = CUDART_NAN; s.sl_stop = CUDART_NAN; s.sl_trail = false;
    s.tp_price = CUDART_NAN; s.tp_stop = CUDART_NAN; return s;
}
""" % {"rel": REL_TOL, "abs": ABS_TOL, "min": MIN_SIZE}

# NaN and inf without math_constants.h (CuPy wheels do not always ship the toolkit headers)
HEADER = ("#define CUDART_NAN __longlong_as_double(0x7ff8000000000000ULL)\n"
          "#define CUDART_INF __longlong_as_double(0x7ff0000000000000ULL)\n")

KERNEL_SRC = r"""
// Signal bitmap: thread t = w * n_cols + col packs bars [64 w, 64 w + 64) of column col into one word (bit
// i % 64 set where bar i has any signal); a warp reads 32 neighbouring columns of a row (coalesced) and
// writes 32 neighbouring words. A column's simulation then reads its words instead of every bar's signals.
extern "C" __global__ void signal_bits(
    const bool* __restrict__ entries, const bool* __restrict__ exits, const bool* __restrict__ short_entries,
    const bool* __restrict__ short_exits, const int ls_mode, const long long n_bars, const long long n_cols,
    unsigned long long* __restrict__ bits)
{
    const long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long n_words = (n_bars + 63) / 64;
    if (t >= n_words * n_cols) return;
    const long long w = t / n_cols, col = t - w * n_cols;
    const long long i0 = w * 64, i1 = i0 + 64 < n_bars ? i0 + 64 : n_bars;
    unsigned long long word = 0;
    for (long long i = i0; i < i1; ++i) {
        const long long at = i * n_cols + col;
        bool any = entries[at] | exits[at];
        if (ls_mode) any = any | short_entries[at] | short_exits[at];
        word |= (unsigned long long)any << (i - i0);
    }
    bits[t] = word;
}
// Bars with any signal per column (they bound its orders): the set bits of its words.
extern "C" __global__ void signal_counts(const unsigned long long* __restrict__ bits, const long long n_words,
                                         const long long n_cols, long long* __restrict__ per_col)
{
    const long long col = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= n_cols) return;
    long long n = 0;
    for (long long w = 0; w < n_words; ++w) n += __popcll(bits[w * n_cols + col]);
    per_col[col] = n;
}
// The first bar >= i of column col with a signal (n_bars when none), 64 bars a word.
__device__ __forceinline__ long long next_signal(const unsigned long long* __restrict__ bits, const long long n_words,
                                                 const long long n_cols, const long long col, const long long i,
                                                 const long long n_bars) {
    long long w = i >> 6;
    if (w >= n_words) return n_bars;
    unsigned long long word = bits[w * n_cols + col] & (~0ULL << (i & 63));
    while (word == 0) {
        if (++w >= n_words) return n_bars;
        word = bits[w * n_cols + col];
    }
    return w * 64 + __ffsll((long long)word) - 1;
}
// A bar's fill: its error kept if the first, its order written at slot k of the group's region (up to cap).
__device__ __forceinline__ void record_fill(const Fill& f, long long i, long long col, long long& k, long long cap,
                                            int& err, long long* o_idx, long long* o_col, double* o_size,
                                            double* o_price, double* o_fees, long long* o_side, long long* o_reason) {
    if (f.err != ERR_NONE && err == ERR_NONE) err = f.err;
    if (!f.filled) return;
    if (k >= cap) { err = ERR_CAPACITY; return; }
    o_idx[k] = i; o_col[k] = col; o_size[k] = f.size; o_price[k] = f.price; o_fees[k] = f.fees;
    o_side[k] = f.side; o_reason[k] = f.reason; ++k;
}
// from_signals: one thread per group of columns (a column when not cash sharing); per-column
// state in global scratch arrays (ColState per column, last valuation price and its bar).
extern "C" __global__ void simulate_from_signals(
    const double* __restrict__ close, const double* __restrict__ open_, const double* __restrict__ high,
    const double* __restrict__ low, const int has_ohlc,
    const bool* __restrict__ entries, const bool* __restrict__ exits, const bool* __restrict__ short_entries,
    const bool* __restrict__ short_exits, const int ls_mode, const unsigned long long* __restrict__ bits,
    const long long n_words, const long long* __restrict__ user_dir, const double* __restrict__ size,
    const long long* __restrict__ size_type,
    const double* __restrict__ fees, const double* __restrict__ fixed_fees, const double* __restrict__ slippage,
    const double* __restrict__ sl_stop, const bool* __restrict__ sl_trail, const double* __restrict__ tp_stop,
    const long long* __restrict__ accumulate, const long long* __restrict__ group_start,
    const long long* __restrict__ group_end, const double* __restrict__ init_cash,
    const long long* __restrict__ offsets, const long long n_bars, const long long n_cols, const long long n_groups,
    ColState* __restrict__ state, double* __restrict__ last_val, long long* __restrict__ last_i,
    long long* __restrict__ o_idx, long long* __restrict__ o_col, double* __restrict__ o_size,
    double* __restrict__ o_price, double* __restrict__ o_fees, long long* __restrict__ o_side,
    long long* __restrict__ o_reason, long long* __restrict__ counts, long long* __restrict__ errors)
{
    const long long g = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= n_groups) return;
    const long long c0 = group_start[g], c1 = group_end[g];
    if (c1 - c0 == 1) {
        // one column: state in registers
        const long long col = c0;
        ColState s = init_state();
        double cash = init_cash[g], free_cash = init_cash[g];
        double lv = CUDART_NAN;
        long long li = -1;
        long long k = offsets[g];
        const long long cap = offsets[g + 1];
        int err = ERR_NONE;
        const int udir = (int)user_dir[col];
        // the column's order options, in registers for the whole loop (not loaded again at every bar)
        const double c_size = size[col], c_fees = fees[col], c_fixed = fixed_fees[col], c_slip = slippage[col];
        const double c_sl = sl_stop[col], c_tp = tp_stop[col];
        const int c_size_type = (int)size_type[col], c_accumulate = (int)accumulate[col];
        const bool c_trail = sl_trail[col];
        // bars where nothing can happen (no signal, and no position or no active stop) skipped 64 at a time
        for (long long i = 0; i < n_bars; ++i) {
            if (s.pos == 0 || (isnan(s.sl_stop) && isnan(s.tp_stop))) {
                i = next_signal(bits, n_words, n_cols, col, i, n_bars);
                if (i >= n_bars) break;
            }
            const long long at = i * n_cols + col;
            const bool e = entries[at], x = exits[at];
            const bool se_in = ls_mode && short_entries[at], sx_in = ls_mode && short_exits[at];
            bool le, lx, se, sx;
            map_signals(e, x, se_in, sx_in, ls_mode, udir, &le, &lx, &se, &sx);
            const double c = close[at];
            for (long long j = i; j > li; --j) {
                const double v = close[j * n_cols + col];
                if (!isnan(v)) { lv = v; break; }
            }
            li = i;
            double o = CUDART_NAN, h = CUDART_NAN, lo = CUDART_NAN;
            if (has_ohlc) { o = open_[at]; h = high[at]; lo = low[at]; }
            Fill f = order_step(s, cash, free_cash, le, lx, se, sx, o, h, lo, c, lv, c_size, c_size_type,
                                c_accumulate, c_fees, c_fixed, c_slip, c_sl, c_trail, c_tp);
            record_fill(f, i, col, k, cap, err, o_idx, o_col, o_size, o_price, o_fees, o_side, o_reason);
        }
        counts[g] = k - offsets[g];
        errors[g] = err;
        return;
    }
    for (long long col = c0; col < c1; ++col) { state[col] = init_state(); last_val[col] = CUDART_NAN; last_i[col] = -1; }
    double cash = init_cash[g], free_cash = init_cash[g];
    long long k = offsets[g];
    const long long cap = offsets[g + 1];
    int err = ERR_NONE;
    for (long long i = 0; i < n_bars; ++i) {
        for (long long col = c0; col < c1; ++col) {
            const long long at = i * n_cols + col;
            bool e = entries[at], x = exits[at], se_in = false, sx_in = false;
            if (ls_mode) { se_in = short_entries[at]; sx_in = short_exits[at]; }
            ColState s = state[col];
            if (!(e || x || se_in || sx_in)) {
                if (s.pos == 0 || (isnan(s.sl_stop) && isnan(s.tp_stop))) continue;
            }
            bool le, lx, se, sx;
            map_signals(e, x, se_in, sx_in, ls_mode, (int)user_dir[col], &le, &lx, &se, &sx);
            const double c = close[at];
            double lv = last_val[col];
            for (long long j = i; j > last_i[col]; --j) {
                const double v = close[j * n_cols + col];
                if (!isnan(v)) { lv = v; break; }
            }
            last_val[col] = lv;
            last_i[col] = i;
            double o = CUDART_NAN, h = CUDART_NAN, lo = CUDART_NAN;
            if (has_ohlc) { o = open_[at]; h = high[at]; lo = low[at]; }
            Fill f = order_step(s, cash, free_cash, le, lx, se, sx, o, h, lo, c, lv, size[col], (int)size_type[col],
                                (int)accumulate[col], fees[col], fixed_fees[col], slippage[col], sl_stop[col],
                                sl_trail[col], tp_stop[col]);
            state[col] = s;
            record_fill(f, i, col, k, cap, err, o_idx, o_col, o_size, o_price, o_fees, o_side, o_reason);
        }
    }
    counts[g] = k - offsets[g];
    errors[g] = err;
}
"""

THREADS = 128
STATE_BYTES = 56  # sizeof(ColState): 6 doubles + bool, padded to 8


@functools.lru_cache(maxsize=1)
def _module() -> Any:
    import cupy as cp  # noqa: PLC0415

    return cp.RawModule(code=HEADER + STEP_SRC + KERNEL_SRC, options=("--std=c++14", "--fmad=false"),
                        name_expressions=["simulate_from_signals", "signal_bits", "signal_counts"])


def _get_module_func(module: Any, name: str) -> Any:
    return module.get_function(name)


def warm_up() -> None:
    """Compile the kernel (lazy in CuPy) so that the first real call does not pay for it."""
    _module()


Launch = Callable[[str, int, tuple], None]  # (kernel name, threads, arguments): on the GPU or the host build


def launch_on_device(name: str, n_threads: int, args: tuple) -> None:
    """One launch of a kernel of the module, THREADS a block."""
    if n_threads:
        _get_module_func(_module(), name)(((n_threads + THREADS - 1) // THREADS,), (THREADS,), args)


def signals(xp: Any, p: Any) -> list[Any]:
    """The four signal arrays of `p` as contiguous `xp` bool arrays, in the kernels' argument order."""
    return [xp.ascontiguousarray(xp.asarray(a, dtype=xp.bool_)) for a in (p.entries, p.exits, p.short_entries,
                                                                         p.short_exits)]


def signal_bitmap(xp: Any, p: Any, sig: list[Any], launch: Launch) -> tuple[Any, Any, int]:
    """(bits, signal bars per simulation group, words a column) of the signals `sig` (`signals`): the
    `signal_bits` words, (n_words, n_cols) uint64 (bit i % 64 of word i // 64: bar i has a signal),
    and the group counts from `signal_counts` (they bound each group's orders)."""
    n_bars, n_cols = sig[0].shape
    n_words = (n_bars + 63) // 64
    bits = xp.empty((n_words, n_cols), dtype=xp.uint64)
    per_col = xp.empty(n_cols, dtype=xp.int64)
    launch("signal_bits", n_words * n_cols, (*sig, np.int32(p.ls_mode), np.int64(n_bars), np.int64(n_cols), bits))
    launch("signal_counts", n_cols, (bits, np.int64(n_words), np.int64(n_cols), per_col))
    csum = xp.concatenate([xp.zeros(1, dtype=xp.int64), xp.cumsum(per_col)])
    return bits, csum[xp.asarray(p.group_end)] - csum[xp.asarray(p.group_start)], n_words


RECORD_FIELDS: tuple[str, ...] = ("idx", "col", "size", "price", "fees", "side", "reason")


def simulate(p: Any) -> tuple[np.ndarray, int]:
    """Run from_signals on the device; (order records on the host, error code)."""
    from kernels.backtest.orders import enums  # noqa: PLC0415

    fields, errors = simulate_device(p)
    n = int(fields["idx"].shape[0])
    recs = np.empty(n, dtype=enums.order_dt)
    recs["id"] = np.arange(n)
    for name in RECORD_FIELDS:
        recs[name] = fields[name].get()
    return recs, int(errors.max().get()) if errors.size else 0


def simulate_device(p: Any) -> tuple[dict[str, Any], Any]:
    """Run from_signals on the device and compact the orders there: ({field: CuPy array in vectorbt's
    record order}, per-group error codes), nothing copied to the host but two counts. The host
    records (`simulate`) cost more than the simulation itself on wide inputs (10 million orders:
    ~0.6 s of copies and structured-array writes against a few ms of kernel)."""
    import cupy as cp  # noqa: PLC0415

    args, out = launch_args(cp, p, launch_on_device)
    launch_on_device("simulate_from_signals", len(p.group_start), args)
    return compact(cp, out), out["errors"]


def launch_args(xp: Any, p: Any, launch: Launch) -> tuple[tuple, dict[str, Any]]:
    """The from_signals kernel's arguments for prepared inputs `p` as `xp` arrays (CuPy, or NumPy for
    the host build that tests/kernels/backtest/orders_host.py runs; `launch` runs the signal bitmap's
    kernels there), and its outputs by name (the record fields, the region offsets, counts and errors
    per group)."""
    sig = signals(xp, p)
    bits, caps, n_words = signal_bitmap(xp, p, sig, launch)
    offsets = xp.concatenate([xp.zeros(1, dtype=xp.int64), xp.cumsum(2 * caps + 1).astype(xp.int64)])
    total = int(offsets[-1])
    n_bars, n_cols = p.close.shape
    n_groups = len(p.group_start)
    out = {name: xp.empty(total, dtype=xp.float64 if name in ("size", "price", "fees") else xp.int64)
           for name in RECORD_FIELDS}
    out.update(offsets=offsets, counts=xp.zeros(n_groups, dtype=xp.int64), errors=xp.zeros(n_groups, dtype=xp.int64))
    multi = bool(np.any(p.group_end - p.group_start > 1))
    state = xp.empty(n_cols * STATE_BYTES if multi else 1, dtype=xp.uint8)
    last_val = xp.empty(n_cols if multi else 1, dtype=xp.float64)
    last_i = xp.empty(n_cols if multi else 1, dtype=xp.int64)
    has_ohlc = p.open.shape[0] == n_bars

    def dev(a: Any, dtype: Any) -> Any:
        return xp.ascontiguousarray(xp.asarray(a, dtype=dtype))

    args = (
        dev(p.close, xp.float64), dev(p.open, xp.float64), dev(p.high, xp.float64), dev(p.low, xp.float64),
        np.int32(has_ohlc),
        *sig, np.int32(p.ls_mode), bits, np.int64(n_words),
        dev(p.direction, xp.int64), dev(p.size, xp.float64), dev(p.size_type, xp.int64), dev(p.fees, xp.float64),
        dev(p.fixed_fees, xp.float64), dev(p.slippage, xp.float64), dev(p.sl_stop, xp.float64),
        dev(p.sl_trail, xp.bool_), dev(p.tp_stop, xp.float64), dev(p.accumulate, xp.int64),
        dev(p.group_start, xp.int64), dev(p.group_end, xp.int64), dev(p.init_cash, xp.float64), offsets,
        np.int64(n_bars), np.int64(n_cols), np.int64(n_groups), state, last_val, last_i,
        *(out[name] for name in RECORD_FIELDS), out["counts"], out["errors"],
    )
    return args, out


def compact(xp: Any, out: dict[str, Any]) -> dict[str, Any]:
    """The per-group record regions compacted (vectorbt's record order), on `xp`'s side."""
    counts, offsets = out["counts"], out["offsets"]
    ends = xp.cumsum(counts)
    n = int(ends[-1]) if len(counts) else 0
    k = xp.arange(n, dtype=xp.int64)
    g_of = xp.searchsorted(ends, k, side="right")  # the group of each compacted record
    take = k + offsets[:-1][g_of] - (ends - counts)[g_of]
    return {name: out[name][take] for name in RECORD_FIELDS}


def warmups() -> dict[str, Any]:
    """GPU warm-up callables (the `kernels.prewarm` protocol): compile the module."""
    return {"simulate_from_signals": warm_up}
