"""The modelled fleet: replicas of a model server with continuous batching.

Time advances in steps (1 s by default) but events inside a step keep their own times:

* **Admission.** A request waits in the FIFO front queue until a sequence slot is free
  on a ready replica (``slots`` per replica, the KV-cache bound on the batch).
  While the step's arrivals need at most half of the free slots, each goes straight to a
  replica chosen by the power of two choices (two ready replicas at random, the one with
  more free slots: Envoy's default least-request balancing), at its arrival time. When
  slots are scarce, requests in arrival order take slots in the order the slots become
  free: those free at the start of the step first (spread by water-filling, least
  occupied first), then those freed by requests finishing during the step, at their
  finish times, so ``start = max(arrival, slot free time)`` is exactly a FIFO
  multi-server queue. Slots freed by requests admitted in the same step are reused in
  further rounds of the step.
* **Prefill.** Each replica has one compute-bound prefill engine: admitted prompts are
  prefilled one after another (``prefill_s_per_token`` each token); the first token is out
  when its prefill ends (time to first token = queue wait + prefill wait + prefill).
* **Decode.** Output tokens take ``out * (decode_step_s + decode_step_s_per_seq * b)``,
  ``b`` the replica's batch occupancy when the request is admitted (the step slows as the
  batch fills). Service time is fixed at admission, so a request's finish time is known
  when it starts and its slot is handed back through a ring of per-step releases: a step
  costs a few dozen array operations whatever the number of requests in flight.
* **Lifecycle.** A new replica loads its model for ``startup_s`` before it takes
  requests (its GPU counts from creation). Scale-down removes loading replicas first
  (newest first), then ready ones (the most recently ready first, as a ReplicaSet does);
  a removed ready replica takes no new requests and drains its in-flight ones before its
  GPU is released.

What a replica exposes is what the exporter would scrape: waiting requests (its share of
the front queue plus its own admitted-but-not-yet-prefilled requests), running
requests, plain GPU utilization (100 % while any request is in flight: NVML counts the
time *a* kernel ran), and SM activity (prefill is compute-bound; decode's SM activity
grows with batch occupancy).
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from simulations.frontqueue import FrontQueue
from simulations.scenario import ModelServer

GONE, LOADING, READY, DRAINING = 0, 1, 2, 3
FAST_SHARE = 0.5        # the direct path while arrivals need at most this share of free slots
RING_S = 3600.0         # a request's slot is released through a ring this long (>> any service time)


class Admitted(NamedTuple):
    """Requests admitted in one step, one row per piece of a queue row (times in seconds).

    A row of ``size`` identical requests is prefilled one request after another
    (``unit`` seconds each) up to ``prefill_end``; ``finish`` is its members' mean finish.
    Latencies are derived in bulk by the recorder (:func:`latencies`).
    """

    arrival: np.ndarray
    start: np.ndarray        # slot taken
    prefill_end: np.ndarray
    unit: np.ndarray         # prefill time of one request of the row
    finish: np.ndarray
    size: np.ndarray         # requests the row stands for


def latencies(a: Admitted) -> tuple[np.ndarray, np.ndarray]:
    """(time to first token, end to end) per row; for a group, the members' mean first token."""
    ttft = a.prefill_end - a.unit * (a.size - 1.0) * 0.5 - a.arrival
    return ttft, a.finish - a.arrival


@dataclass(frozen=True)
class Snapshot:
    """What the exporter and the model servers would report at ``time``, per ready replica."""

    time: float
    serial: np.ndarray       # pod serial numbers of the ready replicas
    queue: np.ndarray        # waiting requests per pod
    running: np.ndarray      # requests in flight per pod (past prefill queueing)
    utilization: np.ndarray  # NVML plain utilization, percent
    sm_active: np.ndarray    # SM activity, percent
    queue_total: float       # front queue + every replica's waiting requests
    running_total: float
    in_system: float         # every request arrived and not finished


class Fleet:
    def __init__(self, model: ModelServer, ready_replicas: int, now: float, step_s: float = 1.0, seed: int = 1):
        self.m = model
        self.slots = float(model.slots)
        self.t0 = now
        self.dt = step_s
        self.k = -1                     # index of the current step
        cap = max(16, 2 * ready_replicas)
        self.state = np.zeros(cap, dtype=np.int8)
        self.ready_at = np.zeros(cap)
        self.created = np.zeros(cap)
        self.serial = np.zeros(cap, dtype=np.int64)
        self.occ = np.zeros(cap)        # slots held, per replica (released at the start of the step after)
        self.pf_free = np.zeros(cap)    # when each replica's prefill engine is next free
        self.horizon = int(math.ceil(RING_S / step_s)) + 2
        self.ring = np.zeros((self.horizon, cap))   # slots released per (step, replica)
        #: per step, sum over the requests finishing in it of count * (step end - finish):
        #: what the step's start-of-step count overstates of the time they spent in the system
        self.ring_credit = np.zeros(self.horizon)
        self.overlong = 0                            # requests whose service outlasted the ring (clamped)
        self.next_serial = 0
        self.n_loading = self.n_ready = self.n_draining = 0
        self.next_ready_time = math.inf
        self.admitted_total = 0.0
        self.completed = 0.0            # requests finished before the current step
        self.rng = np.random.default_rng([seed, 0xF1EE7])
        # requests in flight, one row per admitted piece; recent steps wait in _pending
        self._run = [np.empty(0), np.empty(0, dtype=np.intp), np.empty(0), np.empty(0), np.empty(0)]
        self._pending: list[tuple[np.ndarray, ...]] = []
        self._acc: np.ndarray | None = None          # ready replicas' indices, cached
        self.add(ready_replicas, now, ready=True)

    # ------------------------------------------------------------------ replicas

    @property
    def target(self) -> int:
        """Replicas the Deployment asks for: loading plus ready (not draining)."""
        return self.n_loading + self.n_ready

    @property
    def held(self) -> int:
        """GPUs held: loading, ready and draining replicas."""
        return self.n_loading + self.n_ready + self.n_draining

    def _grow(self, need: int) -> None:
        cap = self.state.shape[0]
        new = max(2 * cap, cap + need)
        for name in ("state", "ready_at", "created", "serial", "occ", "pf_free"):
            old = getattr(self, name)
            arr = np.zeros(new, dtype=old.dtype)
            arr[:cap] = old
            setattr(self, name, arr)
        ring = np.zeros((self.horizon, new))
        ring[:, :cap] = self.ring
        self.ring = ring

    def accepting(self) -> np.ndarray:
        """Indices of the ready replicas (the ones taking requests)."""
        if self._acc is None:
            self._acc = np.flatnonzero(self.state == READY)
        return self._acc

    def add(self, k: int, now: float, ready: bool = False) -> None:
        if k <= 0:
            return
        self._acc = None
        free = np.flatnonzero(self.state == GONE)
        if free.shape[0] < k:
            self._grow(k - free.shape[0])
            free = np.flatnonzero(self.state == GONE)
        idx = free[:k]
        self.state[idx] = READY if ready else LOADING
        self.created[idx] = now
        self.ready_at[idx] = now if ready else now + self.m.startup_s
        self.serial[idx] = np.arange(self.next_serial, self.next_serial + k)
        self.next_serial += k
        self.occ[idx] = 0.0
        self.pf_free[idx] = now
        if ready:
            self.n_ready += k
        else:
            self.n_loading += k
            self.next_ready_time = min(self.next_ready_time, now + self.m.startup_s)

    def remove(self, k: int, now: float) -> None:
        """Scale down by ``k``: loading replicas first, then the most recently ready drain."""
        if k <= 0:
            return
        self._acc = None
        if self.n_loading:
            loading = np.flatnonzero(self.state == LOADING)
            drop = loading[np.argsort(-self.created[loading], kind="stable")][:k]
            self.state[drop] = GONE
            self.n_loading -= drop.shape[0]
            k -= drop.shape[0]
            self.next_ready_time = float(self.ready_at[self.state == LOADING].min()) if self.n_loading else math.inf
        if k > 0 and self.n_ready:
            ready = np.flatnonzero(self.state == READY)
            drop = ready[np.argsort(-self.ready_at[ready], kind="stable")][:k]
            idle = self.occ[drop] <= 0
            self.state[drop[idle]] = GONE
            self.state[drop[~idle]] = DRAINING
            self.n_ready -= drop.shape[0]
            self.n_draining += int((~idle).sum())

    def scale_to(self, desired: int, now: float) -> None:
        current = self.target
        if desired > current:
            self.add(desired - current, now)
        elif desired < current:
            self.remove(current - desired, now)

    # ------------------------------------------------------------------ one step

    def advance(self, t: float) -> None:
        """Start the next step at ``t``: release the slots of requests that finished in the
        previous step, make loaded replicas ready, release drained ones."""
        self.k += 1
        if self.k > 0:
            b = (self.k - 1) % self.horizon
            row = self.ring[b]
            done = float(row.sum())
            if done:
                self.occ -= row
                row[:] = 0.0
                self.completed += done
                self.ring_credit[b] = 0.0
                if self.n_draining:
                    released = (self.state == DRAINING) & (self.occ <= 0)
                    n = int(released.sum())
                    if n:
                        self.state[released] = GONE
                        self.n_draining -= n
        if self.n_loading and self.next_ready_time <= t:
            became = (self.state == LOADING) & (self.ready_at <= t)
            self.state[became] = READY
            self._acc = None
            n = int(became.sum())
            self.n_loading -= n
            self.n_ready += n
            self.next_ready_time = float(self.ready_at[self.state == LOADING].min()) if self.n_loading else math.inf

    def in_system(self, q: FrontQueue, at_step_end: bool = False) -> float:
        """Requests arrived and not finished, at the current step's start (or end)."""
        n = self.admitted_total + q.waiting - self.completed
        if at_step_end:
            n -= float(self.ring[self.k % self.horizon].sum())
        return n

    def completion_credit(self) -> float:
        """``sum(count * (step end - finish))`` over the requests finishing in the current step."""
        return float(self.ring_credit[self.k % self.horizon])

    def busy(self) -> bool:
        return self.admitted_total > self.completed

    def admit(self, t: float, t_end: float, q: FrontQueue) -> Admitted | None:
        """Admit what the front queue holds up to ``t_end``, as far as slots allow."""
        hi = q.upto(t_end)
        head = q.head
        if hi <= head:
            q.waiting = 0.0
            return None
        acc = self.accepting()
        d_cnt = q.demand_counts(hi)
        if not acc.shape[0]:
            q.waiting = float(d_cnt.sum())
            return None
        free = self.slots - self.occ[acc]
        demand = float(d_cnt.sum())
        if demand <= FAST_SHARE * float(free.sum()):
            fast = self._admit_direct(t, q, head, hi, d_cnt, acc, free, demand)
            if fast is not None:
                return fast
        return self._admit_scarce(t, t_end, q, hi, acc, free)

    def _admit_direct(self, t: float, q: FrontQueue, head: int, hi: int, cnt: np.ndarray, acc: np.ndarray,
                      free: np.ndarray, demand: float) -> Admitted | None:
        """Power of two choices for each queue row; None if some replica would overflow."""
        if float(free.min()) < 1.0:
            open_ = free >= 1.0
            acc, free = acc[open_], free[open_]
        n = hi - head
        two = self.rng.integers(0, acc.shape[0], size=(2, n))
        a, b = two[0], two[1]
        pick = np.where(free[a] >= free[b], a, b)
        taken = np.bincount(pick, weights=cnt, minlength=acc.shape[0])
        if (taken > free).any():
            return None
        rows = slice(head, hi)
        arrival = q.time[rows]
        start = np.maximum(arrival, t)
        out = self._start(acc[pick], start, cnt, arrival, q.prompt[rows], q.output[rows], demand)
        q.head, q.head_used, q.waiting = hi, 0.0, 0.0
        return out

    def _admit_scarce(self, t: float, t_end: float, q: FrontQueue, hi: int, acc: np.ndarray,
                      free: np.ndarray) -> Admitted | None:
        """Queued requests take slots in FIFO order, each the earliest slot free."""
        d_cum = np.cumsum(q.demand_counts(hi))
        demand = float(d_cum[-1])
        if demand <= float(free.sum()):
            # Enough slots free now: every request starts at max(arrival, t), spread least occupied first.
            alloc = waterfill(self.occ[acc], free, demand)
            nz = alloc > 0
            matched = self._match(q, d_cum, acc[nz], alloc[nz], np.full(int(nz.sum()), t))
            q.waiting = 0.0
            return matched
        got = self._admit_events(t, t_end, q, hi, d_cum, acc, free)
        hi = q.upto(t_end)
        q.waiting = float(q.demand_counts(hi).sum()) if hi > q.head else 0.0
        return got

    def _admit_events(self, t: float, t_end: float, q: FrontQueue, hi: int, d_cum: np.ndarray,
                      acc: np.ndarray, free: np.ndarray) -> Admitted | None:
        """Slots are scarce: an exact FIFO multi-server queue over the step, event by event.

        The slots free now (ordered least occupied first, one level at a time, as a
        least-loaded balancer fills them) and those freed during the step by requests
        finishing (including requests admitted in this very step) go into one heap by
        the time they free up; queued requests, in arrival order, each take the top.
        Only requests that get a slot are visited, so a step costs its admissions.
        """
        m = self.m
        heap: list[tuple[float, float, int, float]] = []
        for r, f, o in zip(acc.tolist(), free.tolist(), self.occ[acc].tolist(), strict=False):
            for j in range(int(f)):
                heap.append((t, o + j, r, 1.0))
        fin, rep, cnt = self._running()[:3]
        ending = (fin >= t) & (fin < t_end)
        ending &= self.state[rep] == READY
        for f_, r, c in zip(fin[ending].tolist(), rep[ending].tolist(), cnt[ending].tolist(), strict=False):
            heap.append((f_, 0.0, r, c))
        heapq.heapify(heap)
        head = q.head
        counts = q.demand_counts(hi).tolist()
        times = q.time[head:hi].tolist()
        prompts = q.prompt[head:hi].tolist()
        outputs = q.output[head:hi].tolist()
        pf_free, occ = self.pf_free, self.occ
        p, d0, d1 = m.prefill_s_per_token, m.decode_step_s, m.decode_step_s_per_seq
        rows: list[tuple[float, float, float, float, float, float, int]] = []
        admitted = 0.0
        i, n = 0, len(counts)
        while i < n and heap:
            s_time, level, r, avail = heap[0]
            if s_time >= t_end:
                break
            take = avail if avail < counts[i] else counts[i]
            if take < avail:
                heapq.heapreplace(heap, (s_time, level, r, avail - take))
            else:
                heapq.heappop(heap)
            a = times[i]
            start = a if a > s_time else s_time
            unit = prompts[i] * p
            pf = float(pf_free[r])
            end = (start if start > pf else pf) + unit * take
            pf_free[r] = end
            occ[r] += take
            f_ = end - unit * (take - 1.0) * 0.5 + outputs[i] * (d0 + d1 * float(occ[r]))
            rows.append((a, start, end, unit, f_, take, r))
            if f_ < t_end:
                heapq.heappush(heap, (f_, 0.0, r, take))
            admitted += take
            counts[i] -= take
            if counts[i] <= 0:
                i += 1
        if not rows:
            return None
        cols = list(zip(*rows, strict=False))
        arrival, start_, end_, unit_, fin_, cnt_ = (np.array(c, dtype=float) for c in cols[:6])
        rep_ = np.array(cols[6], dtype=np.intp)
        self._book(fin_, rep_, cnt_, unit_ * cnt_, end_, admitted)
        q.consume(d_cum, admitted)
        return Admitted(arrival, start_, end_, unit_, fin_, cnt_)

    def _match(self, q: FrontQueue, d_cum: np.ndarray, s_rep: np.ndarray, s_cnt: np.ndarray,
               s_time: np.ndarray) -> Admitted:
        """The k-th queued request (in arrival order) takes the k-th slot (in free-time order)."""
        head = q.head
        s_cum = np.cumsum(s_cnt)
        k = min(float(d_cum[-1]), float(s_cum[-1]))
        cuts = np.union1d(d_cum[d_cum < k], s_cum[s_cum < k])
        lo = np.concatenate(([0.0], cuts))
        gi = np.searchsorted(d_cum, lo, side="right")
        si = np.searchsorted(s_cum, lo, side="right")
        cnt = np.append(cuts, k) - lo
        rows = head + gi
        arrival = q.time[rows]
        start = np.maximum(arrival, s_time[si])
        rep = s_rep[si]
        got = self._start(rep, start, cnt, arrival, q.prompt[rows], q.output[rows], k)
        q.consume(d_cum, k)
        return got

    def _start(self, rep: np.ndarray, start: np.ndarray, cnt: np.ndarray, arrival: np.ndarray,
               prompt: np.ndarray, output: np.ndarray, total: float) -> Admitted:
        """Prefill, decode and book the slots of requests taking slots at ``start``."""
        m = self.m
        unit = prompt * m.prefill_s_per_token
        work = unit * cnt
        end = self._prefill(rep, start, work)
        occ = self.occ
        occ += np.bincount(rep, weights=cnt, minlength=occ.shape[0])
        # A group's members finish their prefill one after another; each holds its slot
        # for its own time, so the group releases its slots at its members' mean finish.
        fin = end - unit * (cnt - 1.0) * 0.5 + output * (m.decode_step_s + m.decode_step_s_per_seq * occ[rep])
        self._book(fin, rep, cnt, work, end, total)
        return Admitted(arrival, start, end, unit, fin, cnt)

    def _book(self, fin: np.ndarray, rep: np.ndarray, cnt: np.ndarray, work: np.ndarray, end: np.ndarray,
              total: float) -> None:
        """Schedule the slots' release (the ring) and keep the rows for snapshots."""
        step = ((fin - self.t0) / self.dt).astype(np.int64)   # fin > t0: truncation is floor
        if float(fin.max()) >= self.t0 + (self.k + self.horizon - 1) * self.dt:
            late = step - self.k >= self.horizon - 1
            self.overlong += int(late.sum())
            step[late] = self.k + self.horizon - 2
        slot = step % self.horizon
        np.add.at(self.ring.reshape(-1), slot * self.ring.shape[1] + rep, cnt)
        np.add.at(self.ring_credit, slot, cnt * (self.t0 + (step + 1) * self.dt - fin))
        self._pending.append((fin, rep, cnt, work, end))
        if len(self._pending) >= 256:
            self._running()
        self.admitted_total += total

    def _prefill(self, rep: np.ndarray, start: np.ndarray, work: np.ndarray) -> np.ndarray:
        """Prefill end per piece: each replica prefills one prompt after another.

        ``end_i = max(start_i, end_{i-1}) + work_i`` within a replica, starting from its
        ``pf_free``; unrolled, ``end_i = C_i + max_{j<=i}(start_j - C_{j-1})`` with ``C``
        the cumulative work, a running maximum computed per replica in one pass.
        """
        n = rep.shape[0]
        if n == 1:
            only = int(rep[0])
            end = np.array([max(float(start[0]), float(self.pf_free[only])) + float(work[0])])
            self.pf_free[only] = end[0]
            return end
        order = np.argsort(rep, kind="stable")
        r = rep[order]
        w = work[order]
        cw = np.cumsum(w)
        prev = cw - w
        v = start[order] - prev
        first = np.empty(n, dtype=bool)
        first[0] = True
        np.not_equal(r[1:], r[:-1], out=first[1:])
        fi = np.flatnonzero(first)
        v[fi] = np.maximum(v[fi], self.pf_free[r[fi]] - prev[fi])
        # Offsets larger than the spread of v keep the running maximum inside each replica's run.
        span = float(v.max() - v.min()) + 1.0
        shift = np.cumsum(first) * span
        run_max = np.maximum.accumulate(v + shift) - shift
        np.maximum(run_max, v, out=run_max)     # no rounding below start + work
        end_sorted = cw + run_max
        np.maximum.at(self.pf_free, r, end_sorted)
        end = np.empty(n)
        end[order] = end_sorted
        return end

    def _running(self) -> list[np.ndarray]:
        """Requests in flight (fin, rep, cnt, prefill start, prefill end), finished ones dropped."""
        if self._pending:
            parts = self._pending
            self._pending = []
            new = [np.concatenate([p[i] for p in parts]) for i in range(5)]
            new[3] = new[4] - new[3]            # prefill start = end - work
            self._run = [np.concatenate((a, b)) for a, b in zip(self._run, new, strict=False)]
        now = self.t0 + self.k * self.dt
        fin = self._run[0]
        if fin.shape[0] and fin.min() < now:
            keep = fin >= now
            self._run = [a[keep] for a in self._run]
        return self._run

    # ------------------------------------------------------------------ metrics

    def snapshot(self, t: float, q: FrontQueue) -> Snapshot:
        """What would be scraped at ``t``, the end of the current step."""
        fin, rep, cnt, pfs, pfe = self._running()
        acc = np.flatnonzero(self.state == READY)
        n_rep = self.occ.shape[0]
        live = fin > t
        rep_l, cnt_l = rep[live], cnt[live]
        waiting = live & (pfs > t)
        waiting_pf = np.bincount(rep[waiting], weights=cnt[waiting], minlength=n_rep)
        occ_now = np.bincount(rep_l, weights=cnt_l, minlength=n_rep)
        share = q.waiting / acc.shape[0] if acc.shape[0] else 0.0
        running = occ_now[acc] - waiting_pf[acc]
        # prefill time spent in the last step, per replica
        busy = np.clip(np.minimum(pfe, t) - np.maximum(pfs, t - self.dt), 0.0, None)
        pf_busy = np.minimum(1.0, np.bincount(rep, weights=busy, minlength=n_rep)[acc] / self.dt)
        decode_sm = self.m.sm_active_full_batch * np.minimum(1.0, running / self.slots)
        active = occ_now[acc] > 0
        sm = np.where(active, 100.0 * np.minimum(1.0, pf_busy * self.m.sm_active_prefill
                                                 + (1.0 - pf_busy) * decode_sm), 0.0)
        in_flight = float(occ_now.sum())
        waiting_total = float(waiting_pf.sum())
        return Snapshot(time=t, serial=self.serial[acc].copy(), queue=waiting_pf[acc] + share, running=running,
                        utilization=np.where(active, 100.0, 0.0), sm_active=sm,
                        queue_total=q.waiting + waiting_total, running_total=in_flight - waiting_total,
                        in_system=q.waiting + in_flight)

    def pods(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(serial, ready, start_time) of the Deployment's pods (loading and ready; not draining)."""
        idx = np.flatnonzero((self.state == LOADING) | (self.state == READY))
        return self.serial[idx], self.state[idx] == READY, self.created[idx]


def waterfill(occ: np.ndarray, free: np.ndarray, k: float) -> np.ndarray:
    """Spread ``k`` requests over replicas, least occupied first, as evenly as whole
    requests allow (``k <= free.sum()``). Occupancies 3, 1, 1 and 5 to place: 2 + 2
    bring them level at 3, 3, 3 and the fifth goes to the first of the lowest: 4, 3, 3."""
    m = occ.shape[0]
    if m == 1:
        return np.array([k])
    order = np.argsort(occ, kind="stable")
    o = occ[order]
    level_if = (k + np.cumsum(o)) / np.arange(1, m + 1)
    nxt = np.append(o[1:], np.inf)
    j = int(np.argmax(level_if <= nxt))
    level = level_if[j]
    alloc = np.minimum(np.maximum(0.0, np.floor(level - occ)), free)
    rem = int(round(k - float(alloc.sum())))
    if rem > 0:
        cand = np.where(alloc < free, occ + alloc, np.inf)
        pick = np.argsort(cand, kind="stable")[:rem]
        alloc[pick] += 1.0
    out: np.ndarray = alloc
    return out
