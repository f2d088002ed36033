"""GPU kernel of the orders-engine sweeps: CUDA, one thread per (combination, asset).

The same `__device__ order_step` as the from_signals kernel (`gpu.STEP_SRC`), and the
same streaming accounting as `sweep_cpu.sweep_column_nb` (account, exit-trade state,
metric accumulators in registers). A warp holds 32 assets of one combination: each
bar it sums its assets' values with shuffles and adds them to the combination's
per-bar portfolio value with one atomic add (so the portfolio sums are
order-dependent in the last bits, unlike the per-asset rows, which equal the CPU's
bit for bit). Compiled with `--fmad=false`.
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

from kernels.backtest.orders.gpu import HEADER, STEP_SRC

SWEEP_SRC = r"""
__device__ __forceinline__ double trade_pnl(double size, double entry_price, double entry_fees, double exit_price,
                                            double exit_fees, int direction) {
    double diff = add(size * exit_price, -(size * entry_price));
    if (diff != 0 && direction == 1) diff = -diff;
    return diff - entry_fees - exit_fees;
}

extern "C" __global__ void orders_sweep(
    const double* __restrict__ close, const double* __restrict__ open_, const double* __restrict__ high,
    const double* __restrict__ low, const int has_ohlc,
    const bool* __restrict__ le_a, const bool* __restrict__ lx_a, const bool* __restrict__ se_a,
    const bool* __restrict__ sx_a,
    const long long* __restrict__ strat_of, const double* __restrict__ size_p, const long long* __restrict__ stype_p,
    const double* __restrict__ sl_p, const bool* __restrict__ trail_p, const double* __restrict__ tp_p,
    const double fees, const double fixed_fees, const double slippage, const double init_cash, const int accumulate,
    const long long n_bars, const long long n_assets, const long long n_combos,
    const long long* __restrict__ col_group, const long long n_groups,
    double* __restrict__ acc_out, double* __restrict__ port_value, bool* __restrict__ port_expo)
{
    const long long gt = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const int lane = threadIdx.x & 31;
    const long long warps_per_combo = (n_assets + 31) / 32;
    const long long gw = gt >> 5;
    const long long p = gw / warps_per_combo;
    if (p >= n_combos) return;  // uniform per warp
    const long long a = (gw % warps_per_combo) * 32 + lane;
    const bool valid = a < n_assets;
    // portfolio row of this lane's asset: p * n_groups + its group; a warp whose assets are
    // all in one group adds one warp sum, else each lane adds its own value
    const long long grp = col_group[valid ? a : (gw % warps_per_combo) * 32];
    const long long grp0 = __shfl_sync(0xffffffffu, grp, 0);  // every lane shuffles (no short-circuit)
    const bool one_group = __all_sync(0xffffffffu, !valid || grp == grp0);
    const long long prow = p * n_groups + grp;
    const long long s = strat_of[p];
    const long long sig0 = s * n_bars * n_assets;
    const double size = size_p[p];
    const int stype = (int)stype_p[p];
    const double sl_stop = sl_p[p];
    const bool sl_trail = trail_p[p];
    const double tp_stop = tp_p[p];

    ColState st = init_state();
    double cash = init_cash, free_cash = init_cash, last_val = CUDART_NAN;
    bool in_pos = false;
    int direction = 0;
    long long entry_idx = -1;
    double size_sum = 0.0, gross_sum = 0.0, fees_sum = 0.0;
    long long n = 0, n_exp = 0, n_closed = 0, n_wins = 0, n_losses = 0;
    double mean = 0.0, m2 = 0.0, down2 = 0.0, peak = 1.0, mdd = 0.0, traded = 0.0;
    double gwin = 0.0, gloss = 0.0, spnl = 0.0, sdur = 0.0;
    int err = ERR_NONE;
    double prev_v = init_cash;

    for (long long i = 0; i < n_bars; ++i) {
        double v = 0.0;
        bool exposed = false;
        if (valid) {
            const long long at = i * n_assets + a;
            const double c = close[at];
            if (!isnan(c)) last_val = c;
            const bool e = le_a[sig0 + at], x = lx_a[sig0 + at], se = se_a[sig0 + at], sx = sx_a[sig0 + at];
            if ((e || x || se || sx) || (st.pos != 0 && !(isnan(st.sl_stop) && isnan(st.tp_stop)))) {
                double o = CUDART_NAN, h = CUDART_NAN, lo = CUDART_NAN;
                if (has_ohlc) { o = open_[at]; h = high[at]; lo = low[at]; }
                Fill f = order_step(st, cash, free_cash, e, x, se, sx, o, h, lo, c, last_val, size, stype,
                                    accumulate, fees, fixed_fees, slippage, sl_stop, sl_trail, tp_stop);
                if (f.err != ERR_NONE && err == ERR_NONE) err = f.err;
                if (f.filled) {
                    traded += f.size * f.price;
                    if (!in_pos) {
                        in_pos = true; entry_idx = i; direction = (f.side == SIDE_BUY) ? 0 : 1;
                        size_sum = 0.0; gross_sum = 0.0; fees_sum = 0.0;
                    }
                    if ((direction == 0 && f.side == SIDE_BUY) || (direction == 1 && f.side == SIDE_SELL)) {
                        size_sum += f.size; gross_sum += f.size * f.price; fees_sum += f.fees;
                    } else if (is_close_or_less(f.size, size_sum)) {
                        const double exit_size = is_close(f.size, size_sum) ? size_sum : f.size;
                        const double pnl = trade_pnl(exit_size, gross_sum / size_sum, exit_size / size_sum * fees_sum,
                                                     f.price, f.fees, direction);
                        n_closed += 1; spnl += pnl; sdur += (double)(i - entry_idx);
                        if (pnl > 0) { n_wins += 1; gwin += pnl; } else if (pnl < 0) { n_losses += 1; gloss += pnl; }
                        if (is_close(f.size, size_sum)) {
                            in_pos = false;
                        } else {
                            const double frac = (size_sum - f.size) / size_sum;
                            size_sum *= frac; gross_sum *= frac; fees_sum *= frac;
                        }
                    } else {
                        const double cl_size = size_sum;
                        const double cl_fees = cl_size / f.size * f.fees;
                        const double pnl = trade_pnl(cl_size, gross_sum / size_sum, fees_sum, f.price, cl_fees,
                                                     direction);
                        n_closed += 1; spnl += pnl; sdur += (double)(i - entry_idx);
                        if (pnl > 0) { n_wins += 1; gwin += pnl; } else if (pnl < 0) { n_losses += 1; gloss += pnl; }
                        size_sum = f.size - cl_size; gross_sum = size_sum * f.price; fees_sum = f.fees - cl_fees;
                        entry_idx = i; direction = 1 - direction;
                    }
                }
            }
            v = (st.pos != 0) ? cash + st.pos * last_val : cash;
            if (!isnan(c)) {
                const double r = value_return(prev_v, v);
                n += 1;
                const double d = r - mean;
                mean += d / (double)n;
                m2 += d * (r - mean);
                if (r < 0) down2 += r * r;
                if (st.pos != 0) { n_exp += 1; exposed = true; }
            }
            prev_v = v;
            const double eq = v / init_cash;
            if (eq > peak) peak = eq;
            const double dd = 1.0 - eq / peak;
            if (dd > mdd) mdd = dd;
        }
        if (one_group) {
            double sum = v;
            for (int off = 16; off > 0; off >>= 1) sum += __shfl_down_sync(0xffffffffu, sum, off);
            const bool any_exp = __any_sync(0xffffffffu, exposed);
            if (lane == 0) {
                atomicAdd(&port_value[prow * n_bars + i], sum);
                if (any_exp) port_expo[prow * n_bars + i] = true;
            }
        } else if (valid) {
            atomicAdd(&port_value[prow * n_bars + i], v);
            if (exposed) port_expo[prow * n_bars + i] = true;
        }
    }
    if (!valid) return;
    long long n_trades = n_closed;
    if (in_pos && is_less(-size_sum, 0.0)) n_trades += 1;
    double* out = acc_out + (p * n_assets + a) * 17;
    out[0] = (double)n; out[1] = mean; out[2] = m2; out[3] = down2; out[4] = prev_v; out[5] = mdd;
    out[6] = (double)n_exp; out[7] = traded; out[8] = (double)n_trades; out[9] = (double)n_closed;
    out[10] = (double)n_wins; out[11] = (double)n_losses; out[12] = gwin; out[13] = gloss; out[14] = spnl;
    out[15] = sdur; out[16] = (double)err;
}

struct TradeState {
    double size_sum, gross_sum, fees_sum;
    long long entry_idx;
    int direction;
    bool in_pos;
};

// Cash sharing: one thread per (combination, group); the group's columns in order within a
// bar (sweep_cpu.sweep_group_nb), per-column state in global scratch (state / last_val / trades
// at p * n_assets + column). acc_out (P, G, 17); port_value / port_expo (P, T) summed over groups.
extern "C" __global__ void orders_sweep_shared(
    const double* __restrict__ close, const double* __restrict__ open_, const double* __restrict__ high,
    const double* __restrict__ low, const int has_ohlc,
    const bool* __restrict__ le_a, const bool* __restrict__ lx_a, const bool* __restrict__ se_a,
    const bool* __restrict__ sx_a,
    const long long* __restrict__ strat_of, const double* __restrict__ size_p, const long long* __restrict__ stype_p,
    const double* __restrict__ sl_p, const bool* __restrict__ trail_p, const double* __restrict__ tp_p,
    const double fees, const double fixed_fees, const double slippage, const double* __restrict__ init_cash_g,
    const int accumulate, const long long* __restrict__ group_start, const long long* __restrict__ group_end,
    const long long n_bars, const long long n_assets, const long long n_combos, const long long n_groups,
    ColState* __restrict__ state, double* __restrict__ last_val, TradeState* __restrict__ trades,
    double* __restrict__ acc_out, double* __restrict__ port_value, bool* __restrict__ port_expo)
{
    const long long gt = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (gt >= n_combos * n_groups) return;
    const long long p = gt / n_groups;
    const long long g = gt - p * n_groups;
    const long long c0 = group_start[g], c1 = group_end[g];
    const long long s = strat_of[p];
    const long long sig0 = s * n_bars * n_assets;
    const long long base = p * n_assets;
    const double size = size_p[p];
    const int stype = (int)stype_p[p];
    const double sl_stop = sl_p[p];
    const bool sl_trail = trail_p[p];
    const double tp_stop = tp_p[p];
    const double init_cash = init_cash_g[g];
    for (long long col = c0; col < c1; ++col) {
        state[base + col] = init_state();
        last_val[base + col] = CUDART_NAN;
        TradeState z; z.size_sum = 0.0; z.gross_sum = 0.0; z.fees_sum = 0.0; z.entry_idx = -1; z.direction = 0;
        z.in_pos = false;
        trades[base + col] = z;
    }
    double cash = init_cash, free_cash = init_cash;
    long long n = 0, n_exp = 0, n_closed = 0, n_wins = 0, n_losses = 0;
    double mean = 0.0, m2 = 0.0, down2 = 0.0, peak = 1.0, mdd = 0.0, traded = 0.0;
    double gwin = 0.0, gloss = 0.0, spnl = 0.0, sdur = 0.0;
    int err = ERR_NONE;
    double prev_v = init_cash;
    for (long long i = 0; i < n_bars; ++i) {
        bool active = false;
        for (long long col = c0; col < c1; ++col) {
            const long long at = i * n_assets + col;
            const double c = close[at];
            if (!isnan(c)) { last_val[base + col] = c; active = true; }
            const bool e = le_a[sig0 + at], x = lx_a[sig0 + at], se = se_a[sig0 + at], sx = sx_a[sig0 + at];
            ColState st = state[base + col];
            if (!((e || x || se || sx) || (st.pos != 0 && !(isnan(st.sl_stop) && isnan(st.tp_stop))))) continue;
            double o = CUDART_NAN, h = CUDART_NAN, lo = CUDART_NAN;
            if (has_ohlc) { o = open_[at]; h = high[at]; lo = low[at]; }
            Fill f = order_step(st, cash, free_cash, e, x, se, sx, o, h, lo, c, last_val[base + col], size, stype,
                                accumulate, fees, fixed_fees, slippage, sl_stop, sl_trail, tp_stop);
            state[base + col] = st;
            if (f.err != ERR_NONE && err == ERR_NONE) err = f.err;
            if (f.filled) {
                traded += f.size * f.price;
                TradeState tr = trades[base + col];
                if (!tr.in_pos) {
                    tr.in_pos = true; tr.entry_idx = i; tr.direction = (f.side == SIDE_BUY) ? 0 : 1;
                    tr.size_sum = 0.0; tr.gross_sum = 0.0; tr.fees_sum = 0.0;
                }
                if ((tr.direction == 0 && f.side == SIDE_BUY) || (tr.direction == 1 && f.side == SIDE_SELL)) {
                    tr.size_sum += f.size; tr.gross_sum += f.size * f.price; tr.fees_sum += f.fees;
                } else if (is_close_or_less(f.size, tr.size_sum)) {
                    const double exit_size = is_close(f.size, tr.size_sum) ? tr.size_sum : f.size;
                    const double pnl = trade_pnl(exit_size, tr.gross_sum / tr.size_sum,
                                                 exit_size / tr.size_sum * tr.fees_sum, f.price, f.fees, tr.direction);
                    n_closed += 1; spnl += pnl; sdur += (double)(i - tr.entry_idx);
                    if (pnl > 0) { n_wins += 1; gwin += pnl; } else if (pnl < 0) { n_losses += 1; gloss += pnl; }
                    if (is_close(f.size, tr.size_sum)) {
                        tr.in_pos = false;
                    } else {
                        const double frac = (tr.size_sum - f.size) / tr.size_sum;
                        tr.size_sum *= frac; tr.gross_sum *= frac; tr.fees_sum *= frac;
                    }
                } else {
                    const double cl_size = tr.size_sum;
                    const double cl_fees = cl_size / f.size * f.fees;
                    const double pnl = trade_pnl(cl_size, tr.gross_sum / tr.size_sum, tr.fees_sum, f.price, cl_fees,
                                                 tr.direction);
                    n_closed += 1; spnl += pnl; sdur += (double)(i - tr.entry_idx);
                    if (pnl > 0) { n_wins += 1; gwin += pnl; } else if (pnl < 0) { n_losses += 1; gloss += pnl; }
                    tr.size_sum = f.size - cl_size; tr.gross_sum = tr.size_sum * f.price;
                    tr.fees_sum = f.fees - cl_fees;
                    tr.entry_idx = i; tr.direction = 1 - tr.direction;
                }
                trades[base + col] = tr;
            }
        }
        double held = 0.0;
        bool exposed = false;
        for (long long col = c0; col < c1; ++col) {
            const double ps = state[base + col].pos;
            if (ps != 0) { held += ps * last_val[base + col]; exposed = true; }
        }
        const double v = cash + held;
        atomicAdd(&port_value[p * n_bars + i], v);
        if (active) {
            const double r = value_return(prev_v, v);
            n += 1;
            const double d = r - mean;
            mean += d / (double)n;
            m2 += d * (r - mean);
            if (r < 0) down2 += r * r;
            if (exposed) { n_exp += 1; port_expo[p * n_bars + i] = true; }
        }
        prev_v = v;
        const double eq = v / init_cash;
        if (eq > peak) peak = eq;
        const double dd = 1.0 - eq / peak;
        if (dd > mdd) mdd = dd;
    }
    long long n_trades = n_closed;
    for (long long col = c0; col < c1; ++col) {
        const TradeState tr = trades[base + col];
        if (tr.in_pos && is_less(-tr.size_sum, 0.0)) n_trades += 1;
    }
    double* out = acc_out + (p * n_groups + g) * 17;
    out[0] = (double)n; out[1] = mean; out[2] = m2; out[3] = down2; out[4] = prev_v; out[5] = mdd;
    out[6] = (double)n_exp; out[7] = traded; out[8] = (double)n_trades; out[9] = (double)n_closed;
    out[10] = (double)n_wins; out[11] = (double)n_losses; out[12] = gwin; out[13] = gloss; out[14] = spnl;
    out[15] = sdur; out[16] = (double)err;
}
"""

THREADS = 128


@functools.lru_cache(maxsize=1)
def _module() -> Any:
    import cupy as cp  # noqa: PLC0415

    return cp.RawModule(code=HEADER + STEP_SRC + SWEEP_SRC, options=("--std=c++14", "--fmad=false"),
                        name_expressions=["orders_sweep", "orders_sweep_shared"])


def warm_up() -> None:
    """Compile the kernel (lazy in CuPy)."""
    _module()


def _dev(a: Any, dtype: Any) -> Any:
    import cupy as cp  # noqa: PLC0415

    return cp.ascontiguousarray(cp.asarray(a, dtype=dtype))


def apply(close: Any, open_: Any, high: Any, low: Any, le: Any, lx: Any, se: Any, sx: Any, strat_of: np.ndarray,
          size: np.ndarray, size_type: np.ndarray, sl_stop: np.ndarray, sl_trail: np.ndarray, tp_stop: np.ndarray,
          fees: float, fixed_fees: float, slippage: float, init_cash: float, accumulate: int,
          col_group: np.ndarray | None = None, n_groups: int = 1) -> tuple[Any, Any, Any]:
    """Run the sweep kernel over every (combination, asset); (acc (P, N, 17), port_value
    (P * n_groups, T), port_expo (P * n_groups, T)) on the device, asset a adding into row
    p * n_groups + col_group[a]. Signals are (S, T, N) device booleans."""
    import cupy as cp  # noqa: PLC0415

    n_bars, n_assets = close.shape
    n_combos = len(strat_of)
    if col_group is None:
        col_group = np.zeros(n_assets, dtype=np.int64)
    acc = cp.zeros((n_combos, n_assets, 17), dtype=cp.float64)
    pv = cp.zeros((n_combos * n_groups, n_bars), dtype=cp.float64)
    pe = cp.zeros((n_combos * n_groups, n_bars), dtype=cp.bool_)
    warps = n_combos * ((n_assets + 31) // 32)
    blocks = (warps * 32 + THREADS - 1) // THREADS
    dev = _dev
    kernel = _module().get_function("orders_sweep")
    kernel((blocks,), (THREADS,), (
        dev(close, cp.float64), dev(open_, cp.float64), dev(high, cp.float64), dev(low, cp.float64),
        np.int32(open_.shape[0] == n_bars),
        dev(le, cp.bool_), dev(lx, cp.bool_), dev(se, cp.bool_), dev(sx, cp.bool_),
        dev(strat_of, cp.int64), dev(size, cp.float64), dev(size_type, cp.int64), dev(sl_stop, cp.float64),
        dev(sl_trail, cp.bool_), dev(tp_stop, cp.float64),
        np.float64(fees), np.float64(fixed_fees), np.float64(slippage), np.float64(init_cash), np.int32(accumulate),
        np.int64(n_bars), np.int64(n_assets), np.int64(n_combos), dev(col_group, cp.int64), np.int64(n_groups),
        acc, pv, pe,
    ))
    return acc, pv, pe


STATE_BYTES = 56  # sizeof(ColState): 6 doubles + bool, padded to 8
TRADE_BYTES = 40  # sizeof(TradeState): 3 doubles, long long, int, bool, padded to 8


def apply_shared(close: Any, open_: Any, high: Any, low: Any, le: Any, lx: Any, se: Any, sx: Any,
                 strat_of: np.ndarray, size: np.ndarray, size_type: np.ndarray, sl_stop: np.ndarray,
                 sl_trail: np.ndarray, tp_stop: np.ndarray, fees: float, fixed_fees: float, slippage: float,
                 init_cash: np.ndarray, accumulate: int, group_start: np.ndarray,
                 group_end: np.ndarray) -> tuple[Any, Any, Any]:
    """Cash sharing: one thread per (combination, group); (acc (P, G, 17), port_value (P, T),
    port_expo (P, T)) on the device (sweep_cpu.sweep_apply_nb's with cash sharing)."""
    import cupy as cp  # noqa: PLC0415

    n_bars, n_assets = close.shape
    n_combos = len(strat_of)
    n_groups = len(group_start)
    acc = cp.zeros((n_combos, n_groups, 17), dtype=cp.float64)
    pv = cp.zeros((n_combos, n_bars), dtype=cp.float64)
    pe = cp.zeros((n_combos, n_bars), dtype=cp.bool_)
    state = cp.empty(n_combos * n_assets * STATE_BYTES, dtype=cp.uint8)
    last_val = cp.empty(n_combos * n_assets, dtype=cp.float64)
    trades = cp.empty(n_combos * n_assets * TRADE_BYTES, dtype=cp.uint8)
    dev = _dev
    threads = n_combos * n_groups
    kernel = _module().get_function("orders_sweep_shared")
    kernel(((threads + THREADS - 1) // THREADS,), (THREADS,), (
        dev(close, cp.float64), dev(open_, cp.float64), dev(high, cp.float64), dev(low, cp.float64),
        np.int32(open_.shape[0] == n_bars),
        dev(le, cp.bool_), dev(lx, cp.bool_), dev(se, cp.bool_), dev(sx, cp.bool_),
        dev(strat_of, cp.int64), dev(size, cp.float64), dev(size_type, cp.int64), dev(sl_stop, cp.float64),
        dev(sl_trail, cp.bool_), dev(tp_stop, cp.float64),
        np.float64(fees), np.float64(fixed_fees), np.float64(slippage), dev(init_cash, cp.float64),
        np.int32(accumulate), dev(group_start, cp.int64), dev(group_end, cp.int64),
        np.int64(n_bars), np.int64(n_assets), np.int64(n_combos), np.int64(n_groups), state, last_val, trades,
        acc, pv, pe,
    ))
    return acc, pv, pe


def warmups() -> dict[str, Any]:
    """GPU warm-up callables (the `kernels.prewarm` protocol): compile the module (both kernels)."""
    return {"orders_sweep": warm_up}
