"""CPU kernel of the orders-engine sweeps (stops, trailing, sizing x strategy signals).

`sweep_apply_nb` streams every (order combination, asset) over the bars once with
the shared per-bar step `cpu.order_step_nb` (the from_signals kernel's), keeping the
account (cash, position, stops), the exit-trade state and the metric accumulators
(ACC_FIELDS) in registers, and adds the asset's value into the combination's
per-bar portfolio value. No T x N x P intermediate: the signals of the strategy
combinations (the per-unique-parameter work, `*_cache`) are (S, T, N) booleans, the
outputs (P, N, ACC) and (P, T).

With cash sharing (`sweep_group_nb`) a group of columns is streamed together, bar
by bar and its columns in order within a bar, from one cash balance; the
accumulators are the group's. Without it, a column's value may go to the row of
its column group (walk-forward folds side by side, `group_by` without sharing).

`prange` runs over combinations; each job owns its combination's rows of the
portfolio arrays (no write races). These only accept NumPy arrays.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from kernels.backtest.orders.cpu import (
    ERR_NONE,
    SIDE_BUY,
    SIDE_SELL,
    bar_ohlc_nb,
    is_close_nb,
    is_close_or_less_nb,
    is_less_nb,
    add_nb,
    order_step_nb,
    value_return_nb,
)

ACC_FIELDS: tuple[str, ...] = (
    "n_active", "mean", "m2", "down2", "final_value", "max_drawdown", "n_exposed", "traded",
    "n_trades", "n_closed", "n_wins", "n_losses", "gross_win", "gross_loss", "sum_pnl", "sum_duration", "error",
)
N_ACC = len(ACC_FIELDS)


@njit(cache=True)
def trade_pnl_nb(size, entry_price, entry_fees, exit_price, exit_fees, direction):  # pragma: no cover
    """vectorbt's get_trade_stats_nb: the PnL of an exit trade."""
    diff = add_nb(size * exit_price, -(size * entry_price))
    if diff != 0 and direction == 1:
        diff = -diff
    return diff - entry_fees - exit_fees


@njit(cache=True, nogil=True)
def sweep_column_nb(close, open_, high, low, has_ohlc, le_a, lx_a, se_a, sx_a, s, a,
                    size, size_type, sl_stop, sl_trail, tp_stop, fees, fixed_fees, slippage, init_cash, accumulate,
                    acc_out, p, port_value, port_expo, prow):  # pragma: no cover - compiled
    """One (combination p, asset a): bars in order through order_step_nb; its value is
    added into row `prow` of the portfolio arrays."""
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
    # exit-trade state (cpu.exit_trades_nb, streamed)
    in_pos = False
    direction = 0
    entry_idx = -1
    size_sum = 0.0
    gross_sum = 0.0
    fees_sum = 0.0
    # accumulators
    n = 0
    mean = 0.0
    m2 = 0.0
    down2 = 0.0
    peak = 1.0
    mdd = 0.0
    n_exp = 0
    traded = 0.0
    n_closed = 0
    n_wins = 0
    n_losses = 0
    gwin = 0.0
    gloss = 0.0
    spnl = 0.0
    sdur = 0.0
    err = ERR_NONE
    prev_v = init_cash
    for i in range(n_bars):
        c = close[i, a]
        if not np.isnan(c):
            last_val = c
        e = le_a[s, i, a]
        x = lx_a[s, i, a]
        se = se_a[s, i, a]
        sx = sx_a[s, i, a]
        if (e or x or se or sx) or (pos != 0 and not (np.isnan(sl_cur) and np.isnan(tp_cur))):
            o, h, lo = bar_ohlc_nb(has_ohlc, open_, high, low, i, a)
            (pos, debt, cash, free_cash, sl_price, sl_cur, sl_tr, tp_price, tp_cur,
             filled, side, fsize, fprice, ffees, reason, e_code) = order_step_nb(
                pos, debt, cash, free_cash, sl_price, sl_cur, sl_tr, tp_price, tp_cur,
                e, x, se, sx, o, h, lo, c, last_val,
                size, size_type, accumulate, fees, fixed_fees, slippage, sl_stop, sl_trail, tp_stop)
            if e_code != ERR_NONE and err == ERR_NONE:
                err = e_code
            if filled:
                traded += fsize * fprice
                if not in_pos:
                    in_pos = True
                    entry_idx = i
                    direction = 0 if side == SIDE_BUY else 1
                    size_sum = 0.0
                    gross_sum = 0.0
                    fees_sum = 0.0
                if (direction == 0 and side == SIDE_BUY) or (direction == 1 and side == SIDE_SELL):
                    size_sum += fsize
                    gross_sum += fsize * fprice
                    fees_sum += ffees
                elif is_close_or_less_nb(fsize, size_sum):
                    exit_size = size_sum if is_close_nb(fsize, size_sum) else fsize
                    pnl = trade_pnl_nb(exit_size, gross_sum / size_sum, exit_size / size_sum * fees_sum, fprice,
                                       ffees, direction)
                    n_closed += 1
                    spnl += pnl
                    sdur += i - entry_idx
                    if pnl > 0:
                        n_wins += 1
                        gwin += pnl
                    elif pnl < 0:
                        n_losses += 1
                        gloss += pnl
                    if is_close_nb(fsize, size_sum):
                        in_pos = False
                    else:
                        frac = (size_sum - fsize) / size_sum
                        size_sum *= frac
                        gross_sum *= frac
                        fees_sum *= frac
                else:
                    cl_size = size_sum
                    cl_fees = cl_size / fsize * ffees
                    pnl = trade_pnl_nb(cl_size, gross_sum / size_sum, fees_sum, fprice, cl_fees, direction)
                    n_closed += 1
                    spnl += pnl
                    sdur += i - entry_idx
                    if pnl > 0:
                        n_wins += 1
                        gwin += pnl
                    elif pnl < 0:
                        n_losses += 1
                        gloss += pnl
                    size_sum = fsize - cl_size
                    gross_sum = size_sum * fprice
                    fees_sum = ffees - cl_fees
                    entry_idx = i
                    direction = 1 - direction
        # valuation: close forward-filled (back-filled before the first close: no position there)
        if pos != 0:
            v = cash + pos * last_val
        else:
            v = cash
        port_value[prow, i] += v
        if not np.isnan(c):
            r = value_return_nb(prev_v, v)
            n += 1
            d = r - mean
            mean += d / n
            m2 += d * (r - mean)
            if r < 0:
                down2 += r * r
            if pos != 0:
                n_exp += 1
                port_expo[prow, i] = True
        prev_v = v
        eq = v / init_cash
        if eq > peak:
            peak = eq
        dd = 1.0 - eq / peak
        if dd > mdd:
            mdd = dd
    # one trade record per exit, plus the open remainder (vectorbt's exit trades)
    n_trades = n_closed
    if in_pos and is_less_nb(-size_sum, 0.0):
        n_trades += 1
    acc_out[p, a, 0] = n
    acc_out[p, a, 1] = mean
    acc_out[p, a, 2] = m2
    acc_out[p, a, 3] = down2
    acc_out[p, a, 4] = prev_v
    acc_out[p, a, 5] = mdd
    acc_out[p, a, 6] = n_exp
    acc_out[p, a, 7] = traded
    acc_out[p, a, 8] = n_trades
    acc_out[p, a, 9] = n_closed
    acc_out[p, a, 10] = n_wins
    acc_out[p, a, 11] = n_losses
    acc_out[p, a, 12] = gwin
    acc_out[p, a, 13] = gloss
    acc_out[p, a, 14] = spnl
    acc_out[p, a, 15] = sdur
    acc_out[p, a, 16] = err


@njit(cache=True, nogil=True, parallel=True)
def sweep_apply_nb(close, open_, high, low, le_a, lx_a, se_a, sx_a, strat_of, size, size_type, sl_stop, sl_trail,
                   tp_stop, fees, fixed_fees, slippage, init_cash, accumulate, col_group, n_groups, shared,
                   group_start, group_end, group_cash, acc_out, port_value, port_expo):  # pragma: no cover - compiled
    """All combinations (rows of strat_of / size / ... ) x all assets, one prange job per combination.

    Without cash sharing (`shared` False): acc_out (P, N, N_ACC) per asset, and asset a's
    value goes into row p * n_groups + col_group[a] of port_value / port_expo (one row per
    combination when n_groups is 1). With cash sharing: group g is the columns
    group_start[g] .. group_end[g] with one cash balance of group_cash[g] (`sweep_group_nb`),
    acc_out (P, G, N_ACC) per group, port_value / port_expo (P, T) summed over the groups.
    (One compiled kernel for both: a second parallel kernel would double the compile time.)"""
    n_combos = strat_of.shape[0]
    n_assets = close.shape[1]
    has_ohlc = open_.shape[0] == close.shape[0]
    for p in prange(n_combos):
        if shared:
            for g in range(group_start.shape[0]):
                sweep_group_nb(close, open_, high, low, has_ohlc, le_a, lx_a, se_a, sx_a, strat_of[p],
                               group_start[g], group_end[g], size[p], size_type[p], sl_stop[p], sl_trail[p],
                               tp_stop[p], fees, fixed_fees, slippage, group_cash[g], accumulate, acc_out, p, g,
                               port_value, port_expo)
        else:
            for a in range(n_assets):
                sweep_column_nb(close, open_, high, low, has_ohlc, le_a, lx_a, se_a, sx_a, strat_of[p], a,
                                size[p], size_type[p], sl_stop[p], sl_trail[p], tp_stop[p], fees, fixed_fees,
                                slippage, init_cash, accumulate, acc_out, p, port_value, port_expo,
                                p * n_groups + col_group[a])


@njit(cache=True, nogil=True)
def trade_step_nb(in_pos, direction, entry_idx, size_sum, gross_sum, fees_sum, i, side, fsize, fprice,
                  ffees):  # pragma: no cover - compiled
    """One fill of a column's exit-trade state (cpu.exit_trades_nb, streamed). Returns the
    new state and (trades closed, wins, losses, gross win, gross loss, pnl, duration) of this fill."""
    n_cl = 0
    n_w = 0
    n_l = 0
    gw = 0.0
    gl = 0.0
    sp = 0.0
    sd = 0.0
    if not in_pos:
        in_pos = True
        entry_idx = i
        direction = 0 if side == SIDE_BUY else 1
        size_sum = 0.0
        gross_sum = 0.0
        fees_sum = 0.0
    if (direction == 0 and side == SIDE_BUY) or (direction == 1 and side == SIDE_SELL):
        size_sum += fsize
        gross_sum += fsize * fprice
        fees_sum += ffees
    elif is_close_or_less_nb(fsize, size_sum):
        exit_size = size_sum if is_close_nb(fsize, size_sum) else fsize
        pnl = trade_pnl_nb(exit_size, gross_sum / size_sum, exit_size / size_sum * fees_sum, fprice, ffees,
                           direction)
        n_cl = 1
        sp = pnl
        sd = i - entry_idx
        if pnl > 0:
            n_w = 1
            gw = pnl
        elif pnl < 0:
            n_l = 1
            gl = pnl
        if is_close_nb(fsize, size_sum):
            in_pos = False
        else:
            frac = (size_sum - fsize) / size_sum
            size_sum *= frac
            gross_sum *= frac
            fees_sum *= frac
    else:
        cl_size = size_sum
        cl_fees = cl_size / fsize * ffees
        pnl = trade_pnl_nb(cl_size, gross_sum / size_sum, fees_sum, fprice, cl_fees, direction)
        n_cl = 1
        sp = pnl
        sd = i - entry_idx
        if pnl > 0:
            n_w = 1
            gw = pnl
        elif pnl < 0:
            n_l = 1
            gl = pnl
        size_sum = fsize - cl_size
        gross_sum = size_sum * fprice
        fees_sum = ffees - cl_fees
        entry_idx = i
        direction = 1 - direction
    return in_pos, direction, entry_idx, size_sum, gross_sum, fees_sum, n_cl, n_w, n_l, gw, gl, sp, sd


@njit(cache=True, nogil=True)
def sweep_group_nb(close, open_, high, low, has_ohlc, le_a, lx_a, se_a, sx_a, s, c0, c1, size, size_type, sl_stop,
                   sl_trail, tp_stop, fees, fixed_fees, slippage, init_cash, accumulate, acc_out, p, g, port_value,
                   port_expo):  # pragma: no cover - compiled
    """One (combination p, cash-sharing group g of columns c0..c1): bars in order, the
    group's columns in order within a bar (vectorbt's default call sequence), one cash
    balance. The group's accumulators go to acc_out[p, g]; its value is added into
    port_value[p] (the sum over groups)."""
    n_bars = close.shape[0]
    glen = c1 - c0
    pos = np.zeros(glen)
    debt = np.zeros(glen)
    sl_price = np.full(glen, np.nan)
    sl_cur = np.full(glen, np.nan)
    sl_tr = np.zeros(glen, dtype=np.bool_)
    tp_price = np.full(glen, np.nan)
    tp_cur = np.full(glen, np.nan)
    last_val = np.full(glen, np.nan)
    in_pos = np.zeros(glen, dtype=np.bool_)
    direction = np.zeros(glen, dtype=np.int64)
    entry_idx = np.full(glen, -1, dtype=np.int64)
    size_sum = np.zeros(glen)
    gross_sum = np.zeros(glen)
    fees_sum = np.zeros(glen)
    cash = init_cash
    free_cash = init_cash
    n = 0
    mean = 0.0
    m2 = 0.0
    down2 = 0.0
    peak = 1.0
    mdd = 0.0
    n_exp = 0
    traded = 0.0
    n_closed = 0
    n_wins = 0
    n_losses = 0
    gwin = 0.0
    gloss = 0.0
    spnl = 0.0
    sdur = 0.0
    err = ERR_NONE
    prev_v = init_cash
    for i in range(n_bars):
        active = False
        for j in range(glen):
            a = c0 + j
            c = close[i, a]
            if not np.isnan(c):
                last_val[j] = c
                active = True
            e = le_a[s, i, a]
            x = lx_a[s, i, a]
            se = se_a[s, i, a]
            sx = sx_a[s, i, a]
            if not ((e or x or se or sx) or (pos[j] != 0 and not (np.isnan(sl_cur[j]) and np.isnan(tp_cur[j])))):
                continue
            o, h, lo = bar_ohlc_nb(has_ohlc, open_, high, low, i, a)
            (pj, dj, cash, free_cash, slp, sls, slt, tpp, tps,
             filled, side, fsize, fprice, ffees, reason, e_code) = order_step_nb(
                pos[j], debt[j], cash, free_cash, sl_price[j], sl_cur[j], sl_tr[j], tp_price[j], tp_cur[j],
                e, x, se, sx, o, h, lo, c, last_val[j],
                size, size_type, accumulate, fees, fixed_fees, slippage, sl_stop, sl_trail, tp_stop)
            pos[j] = pj
            debt[j] = dj
            sl_price[j] = slp
            sl_cur[j] = sls
            sl_tr[j] = slt
            tp_price[j] = tpp
            tp_cur[j] = tps
            if e_code != ERR_NONE and err == ERR_NONE:
                err = e_code
            if filled:
                traded += fsize * fprice
                (ip, dr, ei, ss, gs, fs, n_cl, n_w, n_l, gw, gl, sp, sd) = trade_step_nb(
                    in_pos[j], direction[j], entry_idx[j], size_sum[j], gross_sum[j], fees_sum[j], i, side, fsize,
                    fprice, ffees)
                in_pos[j] = ip
                direction[j] = dr
                entry_idx[j] = ei
                size_sum[j] = ss
                gross_sum[j] = gs
                fees_sum[j] = fs
                n_closed += n_cl
                n_wins += n_w
                n_losses += n_l
                gwin += gw
                gloss += gl
                spnl += sp
                sdur += sd
        # valuation: the group's cash plus its positions at the last close (result.py's order)
        held = 0.0
        exposed = False
        for j in range(glen):
            if pos[j] != 0:
                held += pos[j] * last_val[j]
                exposed = True
        v = cash + held
        port_value[p, i] += v
        if active:
            r = value_return_nb(prev_v, v)
            n += 1
            d = r - mean
            mean += d / n
            m2 += d * (r - mean)
            if r < 0:
                down2 += r * r
            if exposed:
                n_exp += 1
                port_expo[p, i] = True
        prev_v = v
        eq = v / init_cash
        if eq > peak:
            peak = eq
        dd = 1.0 - eq / peak
        if dd > mdd:
            mdd = dd
    n_trades = n_closed
    for j in range(glen):
        if in_pos[j] and is_less_nb(-size_sum[j], 0.0):
            n_trades += 1
    acc_out[p, g, 0] = n
    acc_out[p, g, 1] = mean
    acc_out[p, g, 2] = m2
    acc_out[p, g, 3] = down2
    acc_out[p, g, 4] = prev_v
    acc_out[p, g, 5] = mdd
    acc_out[p, g, 6] = n_exp
    acc_out[p, g, 7] = traded
    acc_out[p, g, 8] = n_trades
    acc_out[p, g, 9] = n_closed
    acc_out[p, g, 10] = n_wins
    acc_out[p, g, 11] = n_losses
    acc_out[p, g, 12] = gwin
    acc_out[p, g, 13] = gloss
    acc_out[p, g, 14] = spnl
    acc_out[p, g, 15] = sdur
    acc_out[p, g, 16] = err
