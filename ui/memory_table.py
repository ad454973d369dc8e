"""The memory table: every memory a query matches, however many there are.

Built for 100k rows. The row count comes from one query; rows arrive in
blocks that background operations load as the view shows them, and only a
bounded number of blocks is kept. Every query has a generation number, so an
answer for an older query (the person typed on, or re-sorted) is dropped
instead of landing in the new list. After a write anywhere, the count and the
blocks in view are loaded again, the other blocks are kept but marked stale
(shown until they are read again, which happens when they are shown), and the
selection follows its memories to their new rows.

Search results use the same table: a fixed list of hits with their score.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QListWidget, QListWidgetItem

from mneme.assistant.words import (
    STATE_HELP,
    STATE_NAMES,
    author_name,
    describe,
    kind_name,
    one_line,
    who_said,
    why_chosen,
)
from mneme.memory import Change, Conversation, Hit, ListQuery, Memory, SortKey, State

from .core_op import CoreOp
from .session import AppSession

if TYPE_CHECKING:
    from mneme.assistant.core import Assistant

ID_ROLE = Qt.ItemDataRole.UserRole + 1
MEMORY_ROLE = Qt.ItemDataRole.UserRole + 2
PLACEHOLDER = "…"
_Index = QModelIndex | QPersistentModelIndex


class Column(IntEnum):
    TEXT = 0
    KIND = 1
    SAID = 2
    STORED = 3
    CONVERSATION = 4
    PINNED = 5
    IMPORTANCE = 6
    STATE = 7
    SCORE = 8


TITLES = {
    Column.TEXT: "Memory",
    Column.KIND: "What",
    Column.SAID: "Said",
    Column.STORED: "Stored",
    Column.CONVERSATION: "Conversation",
    Column.PINNED: "★",
    Column.IMPORTANCE: "Imp.",
    Column.STATE: "Status",
    Column.SCORE: "Match",
}
HEADER_TIPS = {
    Column.PINNED: "Pinned: always given to the assistant",
    Column.IMPORTANCE: "Importance, from 0 to 1",
    Column.STORED: "When this memory was stored",
}
SORT_KEYS = {
    Column.KIND: SortKey.KIND,
    Column.SAID: SortKey.SAID_AT,
    Column.STORED: SortKey.STORED_AT,
    Column.IMPORTANCE: SortKey.IMPORTANCE,
}
"""The columns the store can sort by; the others cannot be sorted while browsing."""


def when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def fill_history(widget: QListWidget, history: Sequence[Memory], width: int) -> None:
    """A memory's earlier versions, newest first; each item's ``ID_ROLE`` is its version."""
    widget.clear()
    for old in reversed(history):
        item = QListWidgetItem(
            f"Version {old.version} · {author_name(old.author)} · {when(old.updated_at)} · "
            f"{one_line(old.text, width)}"
        )
        item.setToolTip(old.text[:2000])
        item.setData(ID_ROLE, old.version)
        widget.addItem(item)


@dataclass(frozen=True, slots=True)
class _Refreshed:
    """What a background refresh read: the count, fresh blocks and conversation titles."""

    generation: int
    started: int
    query: ListQuery
    total: int
    blocks: dict[int, tuple[Memory, ...]]


@dataclass(frozen=True, slots=True)
class _Block:
    generation: int
    number: int
    items: tuple[Memory, ...]
    started: int
    """When its read was started (the model's read counter)."""


class MemoryTableModel(QAbstractTableModel):
    """Browses a :class:`ListQuery` lazily, or shows a list of search hits.

    Call :meth:`set_query` to browse (filters and sort), :meth:`show_hits` for
    search results, and :meth:`refresh` after the memory changed (done on
    ``session.memoriesChanged`` already). Memories are only ever read through
    the core, by :class:`CoreOp` workers.
    """

    totalChanged = Signal(int)
    """How many memories the current query matches (or how many hits are shown)."""
    blockLoaded = Signal(int, int)
    """(first row, last row) of a block that just arrived."""
    conversationsLoaded = Signal(object)
    """The list of :class:`Conversation` read with the last refresh (for filters)."""
    loadFailed = Signal(str)
    """A clear sentence saying what could not be read."""

    BLOCK_SIZE = 200
    MAX_BLOCKS = 64
    """Blocks kept in memory (12,800 rows); the least recently shown go first."""
    MAX_IN_FLIGHT = 2
    MAX_WANTED = 8
    """Block requests waiting for a worker; the newest (what is on screen now) win."""
    REFRESH_BLOCKS = 4
    """Blocks read again after a write: those shown most recently."""

    def __init__(self, session: AppSession, parent: Any = None) -> None:
        super().__init__(parent)
        self.session = session
        self._query = ListQuery(limit=self.BLOCK_SIZE)
        """The query whose rows are shown."""
        self._pending_query: ListQuery | None = None
        self._hits: list[Hit] | None = None
        self._total = 0
        self._blocks: OrderedDict[int, tuple[Memory, ...]] = OrderedDict()
        self._started: dict[int, int] = {}
        """For each block kept, when its read was started."""
        self._stale: set[int] = set()
        """Blocks read before the last write: shown, and read again when shown."""
        self._reads = 0
        self._wanted: OrderedDict[int, None] = OrderedDict()
        self._in_flight: set[tuple[int, int]] = set()
        self._failed: set[int] = set()
        self._generation = 0
        """Latest query asked for."""
        self._shown_generation = 0
        """Query whose rows are shown; block answers must carry it."""
        self._refreshing = False
        self._refresh_again = False
        self._quiet = False
        self._titles: dict[str, str] = {}
        self._titles_loading = False
        self._titles_again = False
        self._titles_asked: set[str] = set()
        """Conversations seen in rows without a title known, already asked about once."""
        self.loaded_once = False
        self._active = True
        self._missed_change = False
        session.memoriesChanged.connect(self._memories_changed)

    # -- what is shown ------------------------------------------------------------

    @property
    def query(self) -> ListQuery:
        """The query being browsed (or to return to after a search)."""
        return self._pending_query or self._query

    @property
    def searching(self) -> bool:
        return self._hits is not None

    @property
    def total(self) -> int:
        return self._total

    @property
    def loading(self) -> bool:
        """Whether a new query or a refresh is still being read."""
        return self._pending_query is not None or self._refreshing

    @property
    def loaded_blocks(self) -> list[int]:
        """Numbers of the blocks in memory (row // BLOCK_SIZE), in ascending order."""
        return sorted(self._blocks)

    def set_query(self, query: ListQuery) -> None:
        """Browse ``query`` (its offset and limit are ignored); rows arrive lazily."""
        self._pending_query = replace(query, offset=0, limit=self.BLOCK_SIZE)
        self._generation += 1
        self._start_refresh(self._generation, self._pending_query, [0], reset=True)

    def show_hits(self, hits: Sequence[Hit]) -> None:
        """Show search results, best first, until :meth:`set_query` is called again."""
        self._generation += 1
        self.beginResetModel()
        self._shown_generation = self._generation
        self._pending_query = None
        self._hits = list(hits)
        self._total = len(self._hits)
        self._forget_blocks()
        self.endResetModel()
        self._check_titles([h.memory for h in self._hits])
        self.totalChanged.emit(self._total)

    def refresh(self) -> None:
        """Read the count and the rows in view again, keeping the selection where possible."""
        if not self.session.memory_ready:
            return
        if self._refreshing or self._pending_query is not None:
            self._refresh_again = True  # once the read under way is in
            return
        if self._hits is not None:
            self._refresh_hits()
            return
        if not self.loaded_once:
            self.set_query(self._query)
            return
        recent = list(self._blocks)[-self.REFRESH_BLOCKS :] or [0]
        self._start_refresh(self._shown_generation, self._query, recent, reset=False)

    def set_active(self, active: bool) -> None:
        """While inactive (nobody looks at the table), writes are only noted, not read:
        each read takes the store's lock, which the chat needs too. Becoming active
        again reads what was missed."""
        self._active = active
        if active and self._missed_change:
            self._missed_change = False
            self.load_conversations()
            self.refresh()

    def _memories_changed(self, change: object) -> None:
        if not self._active:
            self._missed_change = True
            return
        # a conversation renamed or deleted is announced by its id
        if isinstance(change, Change) and set(change.updated + change.deleted) & set(self._titles):
            self.load_conversations()
        self.refresh()

    def load_conversations(self) -> None:
        """Read the conversations' titles again (shown in a column, offered as a filter).

        Kept apart from the rows and done only when needed (first load, a conversation
        not seen before, a rename): listing conversations costs more than a block.
        """
        if not self.session.memory_ready:
            return
        if self._titles_loading:
            self._titles_again = True
            return
        self._titles_loading = True
        CoreOp(
            self.session,
            lambda core: core.conversations.all(),
            parent=self,
            name="list conversations",
        ).success(self._conversations_loaded).failure(self._conversations_failed).run()

    def _conversations_loaded(self, conversations: list[Conversation]) -> None:
        self._titles = {c.id: c.title for c in conversations}
        self._titles_loading = False
        self.conversationsLoaded.emit(conversations)
        if self._total:
            last = self._total - 1
            self.dataChanged.emit(
                self.index(0, Column.CONVERSATION), self.index(last, Column.CONVERSATION)
            )
        if self._titles_again:
            self._titles_again = False
            self.load_conversations()
        elif self._hits is not None:
            self._check_titles([h.memory for h in self._hits])
        else:
            self._check_titles([m for items in self._blocks.values() for m in items])

    def _conversations_failed(self, why: str) -> None:
        self._titles_loading = False
        self.loadFailed.emit(f"The conversations could not be listed: {why}")

    def _check_titles(self, memories: Sequence[Memory]) -> None:
        """List the conversations again if these rows name one not seen before."""
        if self._titles_loading:
            return  # checked again when the titles arrive
        unknown = {
            m.conversation_id
            for m in memories
            if m.conversation_id and m.conversation_id not in self._titles
        } - self._titles_asked
        if unknown:
            self._titles_asked |= unknown
            self.load_conversations()

    # -- reading rows -------------------------------------------------------------

    def memory_at(self, row: int) -> Memory | None:
        """The memory at ``row`` if it is loaded (never asks the store)."""
        if self._hits is not None:
            return self._hits[row].memory if 0 <= row < len(self._hits) else None
        block = self._blocks.get(row // self.BLOCK_SIZE)
        offset = row % self.BLOCK_SIZE
        return block[offset] if block is not None and offset < len(block) else None

    def hit_at(self, row: int) -> Hit | None:
        if self._hits is None or not 0 <= row < len(self._hits):
            return None
        return self._hits[row]

    def ensure_loaded(self, row: int) -> bool:
        """True if ``row`` is loaded; otherwise ask for its block (see ``blockLoaded``).

        A stale row counts as loaded; it is read again in the background."""
        if not 0 <= row < self._total:
            return False
        if self._hits is not None:
            return True
        number = row // self.BLOCK_SIZE
        if number in self._stale:
            self._request(number)
        if number in self._blocks:
            self._blocks.move_to_end(number)
            return True
        self._request(number)
        return False

    def row_of(self, memory_id: str) -> int | None:
        """The row of a loaded memory, or None if it is not among the loaded rows."""
        return self._positions().get(memory_id)

    def load_rows(self, rows: Sequence[int], done: Callable[[list[Memory] | None], None]) -> None:
        """The memories at ``rows``, loading missing blocks in the background.

        ``done`` gets them in row order, or None if the list changed meanwhile.
        """
        found = [self.memory_at(r) for r in rows]
        if all(m is not None for m in found):
            done([m for m in found if m is not None])
            return
        generation, query, size = self._shown_generation, self._query, self.BLOCK_SIZE
        numbers = sorted({r // size for r, m in zip(rows, found, strict=True) if m is None})
        self._reads += 1
        started = self._reads

        def load(core: Assistant) -> list[_Block]:
            return [
                _Block(
                    generation,
                    n,
                    core.memories.browse(replace(query, offset=n * size)).items,
                    started,
                )
                for n in numbers
            ]

        def loaded(blocks: list[_Block]) -> None:
            if generation != self._shown_generation:
                done(None)
                return
            fetched = {b.number: b.items for b in blocks}
            out: list[Memory] = []
            for row, memory in zip(rows, found, strict=True):
                if memory is None:
                    items = fetched.get(row // size, ())
                    if row % size >= len(items):
                        done(None)
                        return
                    memory = items[row % size]
                out.append(memory)
            for block in blocks:
                self._store_block(block)
            done(out)

        def failed(why: str) -> None:
            self.loadFailed.emit(f"The selected memories could not be read: {why}")
            done(None)

        CoreOp(self.session, load, parent=self, name="load selected memories").success(
            loaded
        ).failure(failed).run()

    def conversation_title(self, conversation_id: str | None) -> str:
        if not conversation_id:
            return ""
        return self._titles.get(conversation_id) or conversation_id

    # -- Qt model -----------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._total

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(Column):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return TITLES[Column(section)]
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = HEADER_TIPS.get(Column(section), TITLES[Column(section)])
            return tip if self.sortable(section) else f"{tip} (cannot be sorted)"
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, column = index.row(), Column(index.column())
        memory = self.memory_at(row)
        if memory is None:
            if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
                if not self._quiet:
                    self.ensure_loaded(row)
                return PLACEHOLDER if column is Column.TEXT else ""
            return None
        if self._hits is None and not self._quiet:
            number = row // self.BLOCK_SIZE
            self._blocks.move_to_end(number)
            if number in self._stale:
                self._request(number)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(memory, column, row)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(memory, row)
        if role == ID_ROLE:
            return memory.id
        if role == MEMORY_ROLE:
            return memory
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (
            Column.IMPORTANCE,
            Column.SCORE,
        ):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and memory.state is not State.ACTIVE:
            return QColor("#777777")
        if role == Qt.ItemDataRole.FontRole and memory.pinned and column is Column.TEXT:
            font = QFont()
            font.setBold(True)
            return font
        return None

    def _display(self, memory: Memory, column: Column, row: int) -> str:
        if column is Column.TEXT:
            who = f"{who_said(memory.role, memory.speaker)}: " if memory.role else ""
            return who + one_line(memory.text, 300)  # the column shows what fits
        if column is Column.KIND:
            return kind_name(memory)
        if column is Column.SAID:
            return when(memory.said_at)
        if column is Column.STORED:
            return when(memory.stored_at)
        if column is Column.CONVERSATION:
            return self.conversation_title(memory.conversation_id)
        if column is Column.PINNED:
            return "★" if memory.pinned else ""
        if column is Column.IMPORTANCE:
            return f"{memory.importance:.2f}"
        if column is Column.STATE:
            return STATE_NAMES[memory.state]
        hit = self.hit_at(row)
        return why_chosen(hit.explanation, pinned=hit.memory.pinned) if hit is not None else ""

    def _tooltip(self, memory: Memory, row: int) -> str:
        tip = f"{describe(memory, 200)}\n\n{memory.text[:2000]}"
        if memory.state is not State.ACTIVE:
            tip += f"\n\n{STATE_HELP[memory.state]}"
        hit = self.hit_at(row)
        if hit is not None:  # the numbers, for whoever wants them
            tip += f"\n\nmatch {hit.score:.3f}: {hit.explanation.describe()}"
        return tip

    # -- sorting ------------------------------------------------------------------

    def sortable(self, column: int) -> bool:
        """Search hits sort by any column; browsing only by what the store can sort."""
        if self._hits is not None:
            return 0 <= column < len(Column)
        return column in SORT_KEYS

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        descending = order == Qt.SortOrder.DescendingOrder
        if self._hits is not None:
            self._sort_hits(Column(column), descending)
            return
        key = SORT_KEYS.get(Column(column)) if 0 <= column < len(Column) else None
        if key is None:
            return
        query = self.query
        if query.sort != key or query.descending != descending:
            self.set_query(replace(query, sort=key, descending=descending))

    def sort_column(self) -> tuple[int, Qt.SortOrder] | None:
        """The column and order the browsed rows are sorted by (for the header)."""
        if self._hits is not None:
            return None
        query = self.query
        for column, key in SORT_KEYS.items():
            if key == query.sort:
                order = (
                    Qt.SortOrder.DescendingOrder
                    if query.descending
                    else Qt.SortOrder.AscendingOrder
                )
                return int(column), order
        return None

    def _sort_hits(self, column: Column, descending: bool) -> None:
        assert self._hits is not None
        keys: dict[Column, Callable[[Hit], Any]] = {
            Column.TEXT: lambda h: h.memory.text.lower(),
            Column.KIND: lambda h: kind_name(h.memory),
            Column.SAID: lambda h: h.memory.said_at,
            Column.STORED: lambda h: h.memory.stored_at,
            Column.CONVERSATION: lambda h: self.conversation_title(h.memory.conversation_id),
            Column.PINNED: lambda h: h.memory.pinned,
            Column.IMPORTANCE: lambda h: h.memory.importance,
            Column.STATE: lambda h: STATE_NAMES[h.memory.state],
            Column.SCORE: lambda h: h.score,
        }
        hits = sorted(self._hits, key=keys[column], reverse=descending)
        self._replace_rows(len(hits), OrderedDict(), hits)

    # -- loading ------------------------------------------------------------------

    def _request(self, number: int) -> None:
        if (self._shown_generation, number) in self._in_flight or number in self._failed:
            return
        self._wanted[number] = None
        self._wanted.move_to_end(number)
        while len(self._wanted) > self.MAX_WANTED:
            self._wanted.popitem(last=False)
        self._pump()

    def _pump(self) -> None:
        ready = self.session.memory_ready
        while ready and self._wanted and len(self._in_flight) < self.MAX_IN_FLIGHT:
            number, _ = self._wanted.popitem(last=True)
            if number in self._blocks and number not in self._stale:
                continue
            self._load_block(number)

    def _load_block(self, number: int) -> None:
        key = (self._shown_generation, number)
        self._in_flight.add(key)
        generation, query = key[0], replace(self._query, offset=number * self.BLOCK_SIZE)
        self._reads += 1
        started = self._reads

        def load(core: Assistant) -> _Block:
            return _Block(generation, number, core.memories.browse(query).items, started)

        def failed(why: str) -> None:
            self._in_flight.discard(key)
            if generation == self._shown_generation:
                self._failed.add(number)
                self.loadFailed.emit(f"Some memories could not be read: {why}")
            self._pump()

        CoreOp(self.session, load, parent=self, name="load memories").success(
            self._block_arrived
        ).failure(failed).run()

    def _block_arrived(self, block: _Block) -> None:
        self._in_flight.discard((block.generation, block.number))
        if block.generation == self._shown_generation and self._hits is None:
            self._store_block(block)
            first = block.number * self.BLOCK_SIZE
            last = min(first + len(block.items), self._total) - 1
            if last >= first:
                self.dataChanged.emit(self.index(first, 0), self.index(last, len(Column) - 1))
                self.blockLoaded.emit(first, last)
        self._pump()

    def _store_block(self, block: _Block) -> None:
        if block.number in self._blocks and self._started.get(block.number, 0) > block.started:
            return  # a fresher read of it arrived first
        self._check_titles(block.items)
        self._blocks[block.number] = block.items
        self._blocks.move_to_end(block.number)
        self._started[block.number] = block.started
        self._stale.discard(block.number)
        self._evict(self._blocks)

    def _evict(self, blocks: OrderedDict[int, tuple[Memory, ...]]) -> None:
        """Keep at most MAX_BLOCKS, dropping the least recently shown."""
        while len(blocks) > self.MAX_BLOCKS:
            gone, _ = blocks.popitem(last=False)
            self._started.pop(gone, None)
            self._stale.discard(gone)

    def _forget_blocks(self) -> None:
        self._blocks.clear()
        self._started.clear()
        self._stale.clear()
        self._wanted.clear()
        self._failed.clear()

    def _start_refresh(
        self, generation: int, query: ListQuery, numbers: list[int], *, reset: bool
    ) -> None:
        if not self.session.memory_ready:
            return
        self._refreshing = True
        size = self.BLOCK_SIZE
        self._reads += 1
        started = self._reads

        def load(core: Assistant) -> _Refreshed:
            blocks: dict[int, tuple[Memory, ...]] = {}
            total = 0
            for n in sorted(set(numbers)):
                page = core.memories.browse(replace(query, offset=n * size, limit=size))
                total = page.total
                if page.items:
                    blocks[n] = page.items
            return _Refreshed(generation, started, query, total, blocks)

        def failed(why: str) -> None:
            self._refresh_done()
            self.loadFailed.emit(f"The memories could not be read: {why}")

        CoreOp(self.session, load, parent=self, name="list memories").success(
            lambda r: self._refreshed(r, reset=reset)
        ).failure(failed).run()

    def _refreshed(self, result: _Refreshed, *, reset: bool) -> None:
        if result.generation != self._generation or (not reset and self._hits is not None):
            self._refresh_done()  # a newer query or a search took over
            return
        if reset:
            self.beginResetModel()
            self._query, self._pending_query = result.query, None
            self._hits = None
            self._shown_generation = result.generation
            self._total = result.total
            self._forget_blocks()
            self._blocks.update(sorted(result.blocks.items()))
            self._started.update((n, result.started) for n in result.blocks)
            self._evict(self._blocks)
            self.endResetModel()
        else:
            self._failed.clear()
            self._replace_rows(result.total, self._merge(result), None)
        if not self.loaded_once:
            self.load_conversations()
        self.loaded_once = True
        self._check_titles([m for items in result.blocks.values() for m in items])
        self.totalChanged.emit(self._total)
        self._refresh_done()

    def _merge(self, result: _Refreshed) -> OrderedDict[int, tuple[Memory, ...]]:
        """The blocks after a refresh, in the same recency order: those it read, unless
        read again since it started; the others kept but marked stale; none beyond the
        new end, and none that were dropped from memory while it ran."""
        last = (result.total - 1) // self.BLOCK_SIZE
        if not self._blocks:
            self._started.update((n, result.started) for n in result.blocks)
            return OrderedDict(sorted(result.blocks.items()))
        blocks: OrderedDict[int, tuple[Memory, ...]] = OrderedDict()
        for number, items in self._blocks.items():
            if number > last:
                continue
            if self._started.get(number, 0) > result.started:
                blocks[number] = items  # read after the refresh started: fresher
            elif number in result.blocks:
                blocks[number] = result.blocks[number]
                self._started[number] = result.started
                self._stale.discard(number)
            else:
                blocks[number] = items
                self._stale.add(number)
        for number in set(self._started) - set(blocks):
            self._started.pop(number)
        self._stale &= set(blocks)
        self._evict(blocks)
        return blocks

    def _refresh_done(self) -> None:
        self._refreshing = False
        if self._refresh_again:
            self._refresh_again = False
            self.refresh()

    def _refresh_hits(self) -> None:
        if not self.session.memory_ready or self._hits is None:
            return
        generation, hits = self._generation, list(self._hits)
        self._refreshing = True

        def load(core: Assistant) -> list[Hit]:
            fresh = {m.id: m for m in core.memories.get_many([h.memory.id for h in hits])}
            return [replace(h, memory=fresh[h.memory.id]) for h in hits if h.memory.id in fresh]

        def loaded(fresh: list[Hit]) -> None:
            if generation == self._generation and self._hits is not None:
                self._replace_rows(len(fresh), OrderedDict(), fresh)
                self.totalChanged.emit(self._total)
            self._refresh_done()

        def failed(why: str) -> None:
            self._refresh_done()
            self.loadFailed.emit(f"The search results could not be updated: {why}")

        CoreOp(self.session, load, parent=self, name="update search results").success(
            loaded
        ).failure(failed).run()

    def _positions(self) -> dict[str, int]:
        if self._hits is not None:
            return {h.memory.id: row for row, h in enumerate(self._hits)}
        stale_first = sorted(self._blocks.items(), key=lambda b: b[0] not in self._stale)
        return {
            m.id: number * self.BLOCK_SIZE + i
            for number, items in stale_first  # a fresh block's rows win
            for i, m in enumerate(items)
        }

    def _replace_rows(
        self,
        total: int,
        blocks: OrderedDict[int, tuple[Memory, ...]],
        hits: list[Hit] | None,
    ) -> None:
        """Swap in fresh rows without a reset: persistent indexes (the selection, the
        current row) follow their memory to its new row, or go if it is not there."""
        self._quiet = True
        try:
            if total > self._total:
                self.beginInsertRows(QModelIndex(), self._total, total - 1)
                self._total = total
                self.endInsertRows()
            self.layoutAboutToBeChanged.emit()
            old = self.persistentIndexList()
            ids = [self._id_at(i.row()) for i in old]
            self._blocks, self._hits = blocks, hits
            positions = self._positions()
            new = []
            for index, memory_id in zip(old, ids, strict=True):
                row = positions.get(memory_id) if memory_id is not None else None
                new.append(self.index(row, index.column()) if row is not None else QModelIndex())
            self.changePersistentIndexList(old, new)
            self.layoutChanged.emit()
            if total < self._total:
                self.beginRemoveRows(QModelIndex(), total, self._total - 1)
                self._total = total
                self.endRemoveRows()
        finally:
            self._quiet = False

    def _id_at(self, row: int) -> str | None:
        memory = self.memory_at(row)
        return memory.id if memory is not None else None
