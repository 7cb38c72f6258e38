"""The modelled fleet: replicas of a model server with continuous batching.

Time advances in steps (1 s by default) but events inside a step keep their own times:

* **Admission.** A request waits in the FIFO front queue until a sequence slot is free
  on a ready replica (``slots`` per replica, the KV-cache bound on the batch).
  While the step's arrivals need at most half of the free slots, each goes straight to a
  replica at its arrival time, chosen by the model's ``routing``: ``leastRequest`` (the
  default) by the power of two choices (two ready replicas at random, the one with more
  free slots: Envoy's default least-request balancing); ``prefillAware`` the replica
  whose prefill engine frees first, then the one with more free slots, the step's
  arrivals spread over that order (a router that sees each replica's queued prefill
  work, as LLM-aware gateways approximate from queue and KV-cache metrics). When
  slots are scarce, requests in arrival order take slots in the order the slots become
  free: those free at the start of the step first (spread by water-filling, least
  occupied first), then those freed by requests finishing during the step, at their
  finish times, so ``start = max(arrival, slot free time)`` is exactly a FIFO
  multi-server queue. Slots freed by requests admitted in the same step are reused in
  further rounds of the step.
* **Prefill.** Each replica has one compute-bound prefill engine: admitted prompts are
  prefilled one after another (``prefill_s_per_token`` each token); the first token is out
  when its prefill ends (time to first token = queue wait + prefill wait + prefill).
* **Decode.** Output tokens take ``output x ModelServer.step_time(b)``, ``b`` the
  replica's batch occupancy when the request is admitted (the step slows as the batch
  fills; the scenario's model holds the formula). Service time is fixed at admission,
  so a request's finish time is known when it starts and its slot is handed back
  through a ring of per-step releases: a step costs a few dozen array operations
  whatever the number of requests in flight.
* **Lifecycle.** A new replica loads its model for ``startup_s`` before it takes
  requests (its GPU counts from creation). Scale-down removes loading replicas first
  (newest first), then ready ones (the most recently ready first, as a ReplicaSet does);
  a removed ready replica takes no new requests and drains its in-flight ones before its
  GPU is released.

What a replica exposes is what the exporter would scrape, by DESIGN.md Contract 2's
names (:attr:`Snapshot.series`, one value per ready pod): waiting requests (its share of
the front queue plus its own admitted-but-not-yet-prefilled requests), running
requests, prompt and generation token counters, KV-cache use, plain GPU utilization
(1.0 while any request is in flight: NVML counts the time *a* kernel ran), SM activity
(prefill is compute-bound; decode's SM activity grows with batch occupancy), and the
``_sum``/``_count`` counters of time to first token and queue time.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

from simulations.frontqueue import FrontQueue
from simulations.replica_metrics import (
    GPU_SM_ACTIVE,
    GPU_UTILIZATION,
    QUEUE_DEPTH,
    RUNNING_REQUESTS,
    InFlight,
    WorkCounters,
    work_series,
)
from simulations.scenario import PREFILL_AWARE, ModelServer

GONE, LOADING, READY, DRAINING = 0, 1, 2, 3
FAST_SHARE = 0.5  # the direct path while arrivals need at most this share of free slots
RING_S = 3600.0  # a request's slot is released through a ring this long (>> any service time)


class Admitted(NamedTuple):
    """Requests admitted in one step, one row per piece of a queue row (times in seconds).

    A row of ``size`` identical requests is prefilled one request after another
    (``unit`` seconds each) up to ``prefill_end``; ``finish`` is its members' mean finish.
    Latencies are derived in bulk by the recorder (:func:`latencies`).
    """

    arrival: np.ndarray
    start: np.ndarray  # slot taken
    prefill_end: np.ndarray
    unit: np.ndarray  # prefill time of one request of the row
    finish: np.ndarray
    size: np.ndarray  # requests the row stands for
    output: np.ndarray  # output tokens of one request of the row


def latencies(a: Admitted) -> tuple[np.ndarray, np.ndarray]:
    """(time to first token, end to end) per row; for a group, the members' mean first token."""
    ttft = a.prefill_end - a.unit * (a.size - 1.0) * 0.5 - a.arrival
    return ttft, a.finish - a.arrival


@dataclass(frozen=True)
class Snapshot:
    """What the exporter and the model servers would report at ``time``, per ready replica."""

    time: float
    serial: np.ndarray  # pod serial numbers of the ready replicas
    queue_total: float  # front queue + every replica's waiting requests
    running_total: float
    in_system: float  # every request arrived and not finished
    #: DESIGN.md Contract 2's series by name, each one value per ready pod (aligned with ``serial``):
    #: what a real model server and the exporter report, with the same meaning
    #: (the names: :data:`simulations.replica_metrics.SERIES`)
    series: Mapping[str, np.ndarray] = field(default_factory=dict)

    # The per-pod views in the units the baselines and plots use, read from ``series``
    # (held once, in Contract 2's units).
    @property
    def queue(self) -> np.ndarray:
        """Waiting requests per pod."""
        return self.series[QUEUE_DEPTH]

    @property
    def running(self) -> np.ndarray:
        """Requests in flight per pod (past prefill queueing)."""
        return self.series[RUNNING_REQUESTS]

    @property
    def utilization(self) -> np.ndarray:
        """NVML plain utilization per pod, percent."""
        return self.series[GPU_UTILIZATION] * 100.0

    @property
    def sm_active(self) -> np.ndarray:
        """SM activity per pod, percent."""
        return self.series[GPU_SM_ACTIVE] * 100.0


class Fleet:
    def __init__(self, model: ModelServer, ready_replicas: int, now: float, step_s: float = 1.0, seed: int = 1):
        self.model = model
        self.slots = float(model.slots)
        self.origin = now
        self.step_s = step_s
        self.step_index = -1  # index of the current step
        cap = max(16, 2 * ready_replicas)
        self.state = np.zeros(cap, dtype=np.int8)
        self.ready_at = np.zeros(cap)
        self.created = np.zeros(cap)
        self.serial = np.zeros(cap, dtype=np.int64)
        self.occupied = np.zeros(cap)  # slots held, per replica (released at the start of the step after)
        self.prefill_free_at = np.zeros(cap)  # when each replica's prefill engine is next free
        self.ring_steps = int(math.ceil(RING_S / step_s)) + 2
        self.ring = np.zeros((self.ring_steps, cap))  # slots released per (step, replica)
        #: per step, sum over the requests finishing in it of count * (step end - finish):
        #: what the step's start-of-step count overstates of the time they spent in the system
        self.ring_credit = np.zeros(self.ring_steps)
        self.overlong = 0  # requests whose service outlasted the ring (clamped)
        self.next_serial = 0
        self.n_loading = self.n_ready = self.n_draining = 0
        self.next_ready_time = math.inf
        self.admitted_total = 0.0
        self.completed = 0.0  # requests finished before the current step
        self.rng = np.random.default_rng([seed, 0xF1EE7])
        # requests in flight, one row per admitted piece; recent steps wait in _pending
        self._flight = InFlight.empty()
        self._pending: list[tuple[np.ndarray, ...]] = []
        self._finished = WorkCounters.zeros(cap)  # work of the rows dropped from _flight, per replica
        self._done: list[InFlight] = []  # rows dropped from _flight, not yet in _finished
        self._ready_index: np.ndarray | None = None  # ready replicas' indices, cached
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
        for name in ("state", "ready_at", "created", "serial", "occupied", "prefill_free_at"):
            old = getattr(self, name)
            arr = np.zeros(new, dtype=old.dtype)
            arr[:cap] = old
            setattr(self, name, arr)
        ring = np.zeros((self.ring_steps, new))
        ring[:, :cap] = self.ring
        self.ring = ring
        self._finished.resize(new)

    def accepting(self) -> np.ndarray:
        """Indices of the ready replicas (the ones taking requests)."""
        if self._ready_index is None:
            self._ready_index = np.flatnonzero(self.state == READY)
        return self._ready_index

    def add(self, k: int, now: float, ready: bool = False) -> None:
        if k <= 0:
            return
        self._ready_index = None
        free = np.flatnonzero(self.state == GONE)
        if free.shape[0] < k:
            self._grow(k - free.shape[0])
            free = np.flatnonzero(self.state == GONE)
        idx = free[:k]
        self._running()  # a reused index's finished rows count for the pod that had it
        self._count_done()
        self._finished.reset(idx)
        self.state[idx] = READY if ready else LOADING
        self.created[idx] = now
        self.ready_at[idx] = now if ready else now + self.model.startup_s
        self.serial[idx] = np.arange(self.next_serial, self.next_serial + k)
        self.next_serial += k
        self.occupied[idx] = 0.0
        self.prefill_free_at[idx] = now
        if ready:
            self.n_ready += k
        else:
            self.n_loading += k
            self.next_ready_time = min(self.next_ready_time, now + self.model.startup_s)

    def remove(self, k: int, now: float) -> None:
        """Scale down by ``k``: loading replicas first, then the most recently ready drain."""
        if k <= 0:
            return
        self._ready_index = None
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
            idle = self.occupied[drop] <= 0
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
        self.step_index += 1
        if self.step_index > 0:
            previous = (self.step_index - 1) % self.ring_steps
            row = self.ring[previous]
            done = float(row.sum())
            if done:
                self.occupied -= row
                row[:] = 0.0
                self.completed += done
                self.ring_credit[previous] = 0.0
                if self.n_draining:
                    released = (self.state == DRAINING) & (self.occupied <= 0)
                    n = int(released.sum())
                    if n:
                        self.state[released] = GONE
                        self.n_draining -= n
        if self.n_loading and self.next_ready_time <= t:
            became = (self.state == LOADING) & (self.ready_at <= t)
            self.state[became] = READY
            self._ready_index = None
            n = int(became.sum())
            self.n_loading -= n
            self.n_ready += n
            self.next_ready_time = float(self.ready_at[self.state == LOADING].min()) if self.n_loading else math.inf

    def in_system(self, q: FrontQueue, at_step_end: bool = False) -> float:
        """Requests arrived and not finished, at the current step's start (or end)."""
        n = self.admitted_total + q.waiting - self.completed
        if at_step_end:
            n -= float(self.ring[self.step_index % self.ring_steps].sum())
        return n

    def completion_credit(self) -> float:
        """``sum(count * (step end - finish))`` over the requests finishing in the current step."""
        return float(self.ring_credit[self.step_index % self.ring_steps])

    def busy(self) -> bool:
        return self.admitted_total > self.completed

    def admit(self, t: float, t_end: float, q: FrontQueue) -> Admitted | None:
        """Admit what the front queue holds up to ``t_end``, as far as slots allow."""
        hi = q.upto(t_end)
        head = q.head
        if hi <= head:
            q.waiting = 0.0
            return None
        ready = self.accepting()
        demand_per_row = q.demand_counts(hi)
        if not ready.shape[0]:
            q.waiting = float(demand_per_row.sum())
            return None
        free = self.slots - self.occupied[ready]
        demand = float(demand_per_row.sum())
        if demand <= FAST_SHARE * float(free.sum()):
            direct = self._admit_direct(t, q, head, hi, demand_per_row, ready, free, demand)
            if direct is not None:
                return direct
        return self._admit_scarce(t, t_end, q, hi, ready, free)

    def _admit_direct(
        self,
        t: float,
        q: FrontQueue,
        head: int,
        hi: int,
        count: np.ndarray,
        ready: np.ndarray,
        free: np.ndarray,
        demand: float,
    ) -> Admitted | None:
        """Power of two choices for each queue row; None if some replica would overflow."""
        if float(free.min()) < 1.0:
            has_room = free >= 1.0
            ready, free = ready[has_room], free[has_room]
        n = hi - head
        if self.model.routing == PREFILL_AWARE:
            # Least prefill backlog first, then most free slots; the step's arrivals spread over that order.
            backlog = np.maximum(self.prefill_free_at[ready] - t, 0.0)
            order = np.lexsort((-free, backlog))
            pick = order[np.arange(n) % order.shape[0]]
        else:
            choices = self.rng.integers(0, ready.shape[0], size=(2, n))
            first, second = choices[0], choices[1]
            pick = np.where(free[first] >= free[second], first, second)
        taken = np.bincount(pick, weights=count, minlength=ready.shape[0])
        if (taken > free).any():
            return None
        rows = slice(head, hi)
        arrival = q.time[rows]
        start = np.maximum(arrival, t)
        out = self._start(ready[pick], start, count, arrival, q.prompt[rows], q.output[rows], demand)
        q.head, q.head_used, q.waiting = hi, 0.0, 0.0
        return out

    def _admit_scarce(
        self, t: float, t_end: float, q: FrontQueue, hi: int, ready: np.ndarray, free: np.ndarray
    ) -> Admitted | None:
        """Queued requests take slots in FIFO order, each the earliest slot free."""
        demand_cum = np.cumsum(q.demand_counts(hi))
        demand = float(demand_cum[-1])
        if demand <= float(free.sum()):
            # Enough slots free now: every request starts at max(arrival, t), spread least occupied first.
            alloc = waterfill(self.occupied[ready], free, demand)
            placed = alloc > 0
            matched = self._match(q, demand_cum, ready[placed], alloc[placed], np.full(int(placed.sum()), t))
            q.waiting = 0.0
            return matched
        got = self._admit_events(t, t_end, q, hi, demand_cum, ready, free)
        hi = q.upto(t_end)
        q.waiting = float(q.demand_counts(hi).sum()) if hi > q.head else 0.0
        return got

    def _admit_events(
        self,
        t: float,
        t_end: float,
        q: FrontQueue,
        hi: int,
        demand_cum: np.ndarray,
        ready: np.ndarray,
        free: np.ndarray,
    ) -> Admitted | None:
        """Slots are scarce: an exact FIFO multi-server queue over the step, event by event.

        The slots free now (ordered least occupied first, one level at a time, as a
        least-loaded balancer fills them) and those freed during the step by requests
        finishing (including requests admitted in this very step) go into one heap by
        the time they free up; queued requests, in arrival order, each take the top.
        Only requests that get a slot are visited, so a step costs its admissions.
        A heap entry is ``(free time, occupancy level, replica, slots)``.
        """
        model = self.model
        heap: list[tuple[float, float, int, float]] = []
        for replica, n_free, held in zip(ready.tolist(), free.tolist(), self.occupied[ready].tolist(), strict=False):
            for j in range(int(n_free)):
                heap.append((t, held + j, replica, 1.0))
        flight = self._running()
        ending = (flight.finish >= t) & (flight.finish < t_end)
        ending &= self.state[flight.replica] == READY
        for finish, replica, count in zip(
            flight.finish[ending].tolist(), flight.replica[ending].tolist(), flight.size[ending].tolist(), strict=False
        ):
            heap.append((finish, 0.0, replica, count))
        heapq.heapify(heap)
        head = q.head
        counts = q.demand_counts(hi).tolist()
        times = q.time[head:hi].tolist()
        prompts = q.prompt[head:hi].tolist()
        outputs = q.output[head:hi].tolist()
        prefill_free_at, occupied = self.prefill_free_at, self.occupied
        rows: list[tuple[float, float, float, float, float, float, int, float, float]] = []
        admitted = 0.0
        i, n = 0, len(counts)
        while i < n and heap:
            slot_free_at, level, replica, available = heap[0]
            if slot_free_at >= t_end:
                break
            take = available if available < counts[i] else counts[i]
            if take < available:
                heapq.heapreplace(heap, (slot_free_at, level, replica, available - take))
            else:
                heapq.heappop(heap)
            arrival = times[i]
            start = arrival if arrival > slot_free_at else slot_free_at
            unit = prompts[i] * model.prefill_s_per_token
            engine_free = float(prefill_free_at[replica])
            prefill_end = (start if start > engine_free else engine_free) + unit * take
            prefill_free_at[replica] = prefill_end
            occupied[replica] += take
            finish = prefill_end - unit * (take - 1.0) * 0.5 + outputs[i] * model.step_time(float(occupied[replica]))
            rows.append((arrival, start, prefill_end, unit, finish, take, replica, prompts[i], outputs[i]))
            if finish < t_end:
                heapq.heappush(heap, (finish, 0.0, replica, take))
            admitted += take
            counts[i] -= take
            if counts[i] <= 0:
                i += 1
        if not rows:
            return None
        cols = list(zip(*rows, strict=False))
        arrival_a, start_a, end_a, unit_a, finish_a, count_a = (np.array(c, dtype=float) for c in cols[:6])
        replica_a = np.array(cols[6], dtype=np.intp)
        prompt_a, output_a = np.array(cols[7], dtype=float), np.array(cols[8], dtype=float)
        self._book(finish_a, replica_a, count_a, unit_a * count_a, end_a, arrival_a, prompt_a, output_a, admitted)
        q.consume(demand_cum, admitted)
        return Admitted(arrival_a, start_a, end_a, unit_a, finish_a, count_a, output_a)

    def _match(
        self,
        q: FrontQueue,
        demand_cum: np.ndarray,
        slot_replica: np.ndarray,
        slot_count: np.ndarray,
        slot_time: np.ndarray,
    ) -> Admitted:
        """The k-th queued request (in arrival order) takes the k-th slot (in free-time order)."""
        head = q.head
        slot_cum = np.cumsum(slot_count)
        k = min(float(demand_cum[-1]), float(slot_cum[-1]))
        cuts = np.union1d(demand_cum[demand_cum < k], slot_cum[slot_cum < k])
        lo = np.concatenate(([0.0], cuts))
        row_of = np.searchsorted(demand_cum, lo, side="right")
        slot_of = np.searchsorted(slot_cum, lo, side="right")
        count = np.append(cuts, k) - lo
        rows = head + row_of
        arrival = q.time[rows]
        start = np.maximum(arrival, slot_time[slot_of])
        got = self._start(slot_replica[slot_of], start, count, arrival, q.prompt[rows], q.output[rows], k)
        q.consume(demand_cum, k)
        return got

    def _start(
        self,
        replica: np.ndarray,
        start: np.ndarray,
        count: np.ndarray,
        arrival: np.ndarray,
        prompt: np.ndarray,
        output: np.ndarray,
        total: float,
    ) -> Admitted:
        """Prefill, decode and book the slots of requests taking slots at ``start``."""
        unit = prompt * self.model.prefill_s_per_token
        work = unit * count
        end = self._prefill(replica, start, work)
        occupied = self.occupied
        occupied += np.bincount(replica, weights=count, minlength=occupied.shape[0])
        # A group's members finish their prefill one after another; each holds its slot
        # for its own time, so the group releases its slots at its members' mean finish.
        finish = end - unit * (count - 1.0) * 0.5 + output * self.model.step_time(occupied[replica])
        self._book(finish, replica, count, work, end, arrival, prompt, output, total)
        return Admitted(arrival, start, end, unit, finish, count, output)

    def _book(
        self,
        finish: np.ndarray,
        replica: np.ndarray,
        count: np.ndarray,
        work: np.ndarray,
        prefill_end: np.ndarray,
        arrival: np.ndarray,
        prompt: np.ndarray,
        output: np.ndarray,
        total: float,
    ) -> None:
        """Schedule the slots' release (the ring) and keep the rows for snapshots."""
        step = ((finish - self.origin) / self.step_s).astype(np.int64)  # finish > origin: truncation is floor
        if float(finish.max()) >= self.origin + (self.step_index + self.ring_steps - 1) * self.step_s:
            late = step - self.step_index >= self.ring_steps - 1
            self.overlong += int(late.sum())
            step[late] = self.step_index + self.ring_steps - 2
        slot = step % self.ring_steps
        np.add.at(self.ring.reshape(-1), slot * self.ring.shape[1] + replica, count)
        np.add.at(self.ring_credit, slot, count * (self.origin + (step + 1) * self.step_s - finish))
        self._pending.append((finish, replica, count, work, prefill_end, arrival, prompt, output))
        if len(self._pending) >= 256:
            self._running()
        self.admitted_total += total

    def _prefill(self, replica: np.ndarray, start: np.ndarray, work: np.ndarray) -> np.ndarray:
        """Prefill end per piece: each replica prefills one prompt after another.

        ``end_i = max(start_i, end_{i-1}) + work_i`` within a replica, starting from its
        ``prefill_free_at``; unrolled, ``end_i = C_i + max_{j<=i}(start_j - C_{j-1})`` with
        ``C`` the cumulative work, a running maximum computed per replica in one pass.
        """
        n = replica.shape[0]
        if n == 1:
            only = int(replica[0])
            end = np.array([max(float(start[0]), float(self.prefill_free_at[only])) + float(work[0])])
            self.prefill_free_at[only] = end[0]
            return end
        order = np.argsort(replica, kind="stable")
        by_replica = replica[order]
        work_sorted = work[order]
        cum_work = np.cumsum(work_sorted)
        work_before = cum_work - work_sorted
        offset = start[order] - work_before
        run_start = np.empty(n, dtype=bool)
        run_start[0] = True
        np.not_equal(by_replica[1:], by_replica[:-1], out=run_start[1:])
        firsts = np.flatnonzero(run_start)
        offset[firsts] = np.maximum(offset[firsts], self.prefill_free_at[by_replica[firsts]] - work_before[firsts])
        # Shifts larger than the spread of the offsets keep the running maximum inside each replica's run.
        span = float(offset.max() - offset.min()) + 1.0
        shift = np.cumsum(run_start) * span
        run_max = np.maximum.accumulate(offset + shift) - shift
        np.maximum(run_max, offset, out=run_max)  # no rounding below start + work
        end_sorted = cum_work + run_max
        np.maximum.at(self.prefill_free_at, by_replica, end_sorted)
        end = np.empty(n)
        end[order] = end_sorted
        return end

    def _running(self) -> InFlight:
        """Requests in flight, one row per admitted piece; rows finished before the current
        step are dropped, their work added to their replica's finished counters."""
        if self._pending:
            parts = self._pending
            self._pending = []
            finish, replica, count, work, prefill_end, arrival, prompt, output = (
                np.concatenate([p[i] for p in parts]) for i in range(8)
            )
            new = InFlight(finish, replica, count, prefill_end - work, prefill_end, arrival, prompt, output)
            self._flight = InFlight(*(np.concatenate((a, b)) for a, b in zip(self._flight, new, strict=True)))
        now = self.origin + self.step_index * self.step_s
        finish = self._flight.finish
        if finish.shape[0] and finish.min() < now:
            keep = finish >= now
            self._done.append(InFlight(*(a[~keep] for a in self._flight)))
            if len(self._done) >= 256:
                self._count_done()
            self._flight = InFlight(*(a[keep] for a in self._flight))
        return self._flight

    def _count_done(self) -> None:
        """Add the finished rows' work to their replicas' counters (deferred: a snapshot or
        a replica's reuse needs them, not every step)."""
        if self._done:
            parts, self._done = self._done, []
            self._finished.add(
                InFlight(*(np.concatenate(col) for col in zip(*parts, strict=True))), self.occupied.shape[0]
            )

    # ------------------------------------------------------------------ metrics

    def snapshot(self, t: float, q: FrontQueue) -> Snapshot:
        """What would be scraped at ``t``, the end of the current step."""
        flight = self._running()
        replica, count = flight.replica, flight.size
        ready = np.flatnonzero(self.state == READY)
        n_rep = self.occupied.shape[0]
        live = flight.finish > t
        waiting = live & (flight.prefill_start > t)
        waiting_prefill = np.bincount(replica[waiting], weights=count[waiting], minlength=n_rep)
        in_flight_now = np.bincount(replica[live], weights=count[live], minlength=n_rep)
        share = q.waiting / ready.shape[0] if ready.shape[0] else 0.0
        running = in_flight_now[ready] - waiting_prefill[ready]
        # prefill time spent in the last step, per replica
        busy = np.clip(np.minimum(flight.prefill_end, t) - np.maximum(flight.prefill_start, t - self.step_s), 0.0, None)
        prefill_busy = np.minimum(1.0, np.bincount(replica, weights=busy, minlength=n_rep)[ready] / self.step_s)
        decode_sm = self.model.sm_active_full_batch * np.minimum(1.0, running / self.slots)
        active = in_flight_now[ready] > 0
        sm = np.where(
            active,
            100.0 * np.minimum(1.0, prefill_busy * self.model.sm_active_prefill + (1.0 - prefill_busy) * decode_sm),
            0.0,
        )
        utilization = np.where(active, 100.0, 0.0)
        queue = waiting_prefill[ready] + share
        in_flight = float(in_flight_now.sum())
        waiting_total = float(waiting_prefill.sum())
        series = {
            QUEUE_DEPTH: queue,
            RUNNING_REQUESTS: running,
            GPU_UTILIZATION: utilization / 100.0,
            GPU_SM_ACTIVE: sm / 100.0,
        }
        self._count_done()
        series.update(work_series(flight, self._finished, live, t, ready, self.model.kv_cache_tokens))
        return Snapshot(
            time=t,
            serial=self.serial[ready].copy(),
            queue_total=q.waiting + waiting_total,
            running_total=in_flight - waiting_total,
            in_system=q.waiting + in_flight,
            series=MappingProxyType(series),
        )

    def pods(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(serial, ready, start_time) of the Deployment's pods (loading and ready; not draining)."""
        idx = np.flatnonzero((self.state == LOADING) | (self.state == READY))
        return self.serial[idx], self.state[idx] == READY, self.created[idx]


def waterfill(occupied: np.ndarray, free: np.ndarray, k: float) -> np.ndarray:
    """Spread ``k`` requests over replicas, least occupied first, as evenly as whole
    requests allow (``k <= free.sum()``). Occupancies 3, 1, 1 and 5 to place: 2 + 2
    bring them level at 3, 3, 3 and the fifth goes to the first of the lowest: 4, 3, 3."""
    n = occupied.shape[0]
    if n == 1:
        return np.array([k])
    ascending = np.sort(occupied, kind="stable")
    # the level the j + 1 least occupied would reach if they took all k, and the next occupancy up
    level_if = (k + np.cumsum(ascending)) / np.arange(1, n + 1)
    next_up = np.append(ascending[1:], np.inf)
    level = level_if[int(np.argmax(level_if <= next_up))]
    alloc = np.minimum(np.maximum(0.0, np.floor(level - occupied)), free)
    left = int(round(k - float(alloc.sum())))
    if left > 0:
        after = np.where(alloc < free, occupied + alloc, np.inf)
        pick = np.argsort(after, kind="stable")[:left]
        alloc[pick] += 1.0
    out: np.ndarray = alloc
    return out
