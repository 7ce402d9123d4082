"""Query plans of the learner's statements: ``explain(db, statement)`` and the plan as data.

A check asks Postgres how it would run a statement the learner's code sent (a captured statement:
its ``.sql`` and ``.parameters``), and reads the plan as nodes::

    with sql.capture() as log:
        learner.queries.recent_documents(session, owner_id=7)
    plan = explain(db, log.selects[-1], settings={"enable_seqscan": "off"})
    if not plan.uses_index("ix_documents_owner_id_created_at"):
        fail(f"... the plan is:\\n{plan}")

Only the SQL text and its parameters are used, so the helper works the same wherever the
statement was captured (in the learner's process today; as Postgres received it, later).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class PlanNode:
    """One node of a plan (``EXPLAIN (FORMAT JSON)``'s ``Plan`` objects)."""

    type: str
    """``Seq Scan``, ``Index Scan``, ``Index Only Scan``, ``Bitmap Heap Scan``, ``Sort``, ``Nested Loop`` ..."""
    relation: str | None = None
    index: str | None = None
    """The index an index scan reads (``Index Scan``, ``Index Only Scan``, ``Bitmap Index Scan``)."""
    index_cond: str | None = None
    filter: str | None = None
    """Rows read and then thrown away: a condition no index answered."""
    sort_key: list[str] = field(default_factory=list)
    rows: float = 0.0
    """The planner's estimate (or, with ``analyze=True``, the actual rows)."""
    cost: float = 0.0
    children: list[PlanNode] = field(default_factory=list)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, node: Mapping[str, Any]) -> PlanNode:
        return cls(
            type=node.get("Node Type", "?"),
            relation=node.get("Relation Name"),
            index=node.get("Index Name"),
            index_cond=node.get("Index Cond") or node.get("Recheck Cond"),
            filter=node.get("Filter"),
            sort_key=list(node.get("Sort Key", [])),
            rows=float(node.get("Actual Rows", node.get("Plan Rows", 0)) or 0),
            cost=float(node.get("Total Cost", 0) or 0),
            children=[cls.from_json(child) for child in node.get("Plans", [])],
            raw=node,
        )

    def walk(self) -> Iterator[PlanNode]:
        yield self
        for child in self.children:
            yield from child.walk()

    def describe(self) -> str:
        parts = [self.type]
        if self.index:
            parts.append(f"using {self.index}")
        if self.relation:
            parts.append(f"on {self.relation}")
        if self.index_cond:
            parts.append(f"[cond {self.index_cond}]")
        if self.filter:
            parts.append(f"[filter {self.filter}]")
        if self.sort_key:
            parts.append(f"[sort {', '.join(self.sort_key)}]")
        return " ".join(parts)


@dataclass
class Plan:
    """The plan of one statement: ``root`` and every node under it."""

    root: PlanNode
    sql: str

    @property
    def nodes(self) -> list[PlanNode]:
        return list(self.root.walk())

    @property
    def indexes_used(self) -> list[str]:
        """Every index the plan reads, in plan order."""
        return [node.index for node in self.nodes if node.index]

    def uses_index(self, name: str | None = None, *, table: str | None = None, searched: bool = False) -> bool:
        """Whether the plan reads index ``name`` (any index, when ``None``), on ``table`` when given.

        ``searched=True``: only an index *searched* by a condition (an ``Index Cond``) counts; an
        index read from end to end (a full index scan, for its order or because sequential scans are
        discouraged) does not."""
        return bool(self.index_nodes(name, table=table, searched=searched))

    def index_nodes(self, name: str | None = None, *, table: str | None = None, searched: bool = False) -> list[PlanNode]:
        """The nodes that read index ``name`` (any, when ``None``); see :meth:`uses_index`."""
        return [
            node
            for node in self.nodes
            if node.index
            and (name is None or node.index == name)
            and (table is None or node.relation in (table, None))
            and (node.index_cond or not searched)
        ]

    def seq_scans(self, table: str | None = None) -> list[PlanNode]:
        """The sequential scans (of ``table`` only, when given): every row read."""
        return [n for n in self.nodes if n.type == "Seq Scan" and (table is None or n.relation == table)]

    def sorts(self) -> list[PlanNode]:
        """Explicit sorts: an ``ORDER BY`` no index delivered in order."""
        return [n for n in self.nodes if n.type in ("Sort", "Incremental Sort")]

    def __str__(self) -> str:
        lines: list[str] = []

        def show(node: PlanNode, depth: int) -> None:
            lines.append(f"{'  ' * depth}-> {node.describe()}")
            for child in node.children:
                show(child, depth + 1)

        show(self.root, 0)
        return "\n".join(lines)


def explain(bind, statement, parameters=None, *, analyze: bool = False, settings: Mapping[str, str] | None = None) -> Plan:
    """The plan Postgres makes for ``statement`` on ``bind`` (an ``Engine`` or ``Connection`` of the
    grader's, e.g. the ``db`` fixture).

    ``statement`` is a captured statement (its ``.sql`` and ``.parameters`` are used) or SQL text
    in the driver's style with ``parameters``. Of an executemany, the first parameter set is
    explained. ``settings`` are set for this one EXPLAIN (``{"enable_seqscan": "off"}``: would
    Postgres use an index at all, on a table too small for it to bother?). ``analyze=True`` runs
    the statement (inside a transaction rolled back afterwards) and reports actual rows.
    """
    sql = getattr(statement, "sql", statement)
    if parameters is None:
        parameters = getattr(statement, "parameters", None)
    if isinstance(parameters, list) and parameters and isinstance(parameters[0], Mapping | list | tuple):
        parameters = parameters[0]
    if not isinstance(sql, str) or not sql.strip():
        raise TypeError(f"explain() takes a captured statement or SQL text, not {type(statement).__name__}")
    options = "ANALYZE, FORMAT JSON" if analyze else "FORMAT JSON"
    connection = bind.connect() if hasattr(bind, "connect") and not hasattr(bind, "exec_driver_sql") else None
    conn = connection or bind
    try:
        transaction = conn.begin() if not conn.in_transaction() else conn.begin_nested()
        try:
            for name, value in (settings or {}).items():
                conn.exec_driver_sql(f"SELECT set_config('{_setting(name)}', %(value)s, true)", {"value": str(value)})
            row = conn.exec_driver_sql(f"EXPLAIN ({options}) {sql}", parameters if parameters else ()).scalar_one()
        finally:
            transaction.rollback()
    finally:
        if connection is not None:
            connection.close()
    document = json.loads(row) if isinstance(row, str) else row
    return Plan(PlanNode.from_json(document[0]["Plan"]), sql)


def _setting(name: str) -> str:
    if not name.replace("_", "").replace(".", "").isalnum():
        raise ValueError(f"not a setting name: {name!r}")
    return name
