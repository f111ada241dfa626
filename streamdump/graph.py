"""Deterministic dependency order over a graph that may contain cycles."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping


def strongly_connected(nodes: Iterable[str], edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
    return components


def dependency_order(
    nodes: Iterable[str], depends_on: Mapping[str, Iterable[str]]
) -> tuple[list[str], list[list[str]]]:
    """Order nodes so that each comes after what it depends on; return (order, cycles).

    Members of a cycle are kept together, sorted by name; ties are broken by name, so the
    order is the same on every run and every machine.
    """
    nodes = sorted(set(nodes))
    deps = {n: {d for d in depends_on.get(n, ()) if d in depends_on or d in nodes} for n in nodes}
    components = strongly_connected(nodes, deps)
    owner = {member: i for i, comp in enumerate(components) for member in comp}
    waiting: dict[int, set[int]] = {i: set() for i in range(len(components))}
    dependents: dict[int, set[int]] = {i: set() for i in range(len(components))}
    for node, targets in deps.items():
        for target in targets:
            a, b = owner[node], owner[target]
            if a != b:
                waiting[a].add(b)
                dependents[b].add(a)
    ready = [(components[i][0], i) for i, w in waiting.items() if not w]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, i = heapq.heappop(ready)
        order.extend(components[i])
        for j in dependents[i]:
            waiting[j].discard(i)
            if not waiting[j]:
                heapq.heappush(ready, (components[j][0], j))
    cycles = [c for c in components if len(c) > 1 or c[0] in deps[c[0]]]
    return order, cycles
