"""A save links the files the index did not change (a delete rewrites no vectors), and never
a file that is not the one the index read."""

import numpy as np

from finesim import Index
from tests.helpers import corpus, index_of, wholes_of


def inodes(folder):
    return {p.name: p.stat().st_ino for p in folder.iterdir() if p.is_file()}


def saved_index(tmp_path, n_docs=30):
    docs, blocks = corpus(n_docs=n_docs)
    index_of(docs, blocks, wholes_of(docs)).save(tmp_path / "idx")
    return tmp_path / "idx"


def state(index):
    hits = index.search(query_doc=index.live_ids[0], k=5, explain=0)
    return index.live_ids, [(h.id, round(h.score, 5)) for h in hits]


def test_a_delete_links_every_file_but_the_tombstones_and_the_manifest(tmp_path):
    folder = saved_index(tmp_path)
    before = inodes(folder)
    index = Index.open(folder)
    index.delete(["d2", "d9"])
    index.save()
    after = inodes(folder)
    changed = {name for name in after if after[name] != before.get(name)}
    assert changed == {"tombstones.npy", "manifest.json"}
    assert state(Index.open(folder, verify=True)) == state(index)
    index.delete(["d3"])  # saved again from the folder it wrote
    index.save()
    assert {n for n, i in inodes(folder).items() if i != after.get(n)} == changed


def test_an_add_or_a_compaction_writes_afresh(tmp_path):
    folder = saved_index(tmp_path)
    before = inodes(folder)
    index = Index.open(folder)
    more, blocks = corpus(n_docs=2, seed=4, prefix="m")
    index.add_vectors(more, np.concatenate(blocks), wholes_of(more))
    index.save()
    after = inodes(folder)
    assert all(after[name] != before[name] for name in ("ann.faiss", "docs.jsonl", "ids.json"))
    index.delete(["d1"])
    index.compacted().save()
    assert all(inodes(folder)[name] != after[name] for name in ("ann.faiss", "docs.jsonl"))
    assert Index.open(folder).ids[-2:] == ["m0", "m1"] and "d1" not in Index.open(folder).ids


def test_files_changed_or_replaced_since_the_open_are_not_linked(tmp_path):
    folder = saved_index(tmp_path)
    stale = Index.open(folder)
    means = folder / "means.npy"
    np.save(means, np.zeros(np.load(means).shape))  # written over in place: same inode
    stale.delete(["d4"])
    stale.save()
    assert state(Index.open(folder, verify=True)) == state(stale)  # means from memory

    first, other = Index.open(folder), Index.open(folder)
    more, blocks = corpus(n_docs=3, seed=5, prefix="m")
    other.add_vectors(more, np.concatenate(blocks), wholes_of(more))
    other.save()  # another writer replaced the folder since ``first`` read it
    first.delete(["d5"])
    first.save()  # the last save wins, whole: none of the other writer's files in it
    reopened = Index.open(folder, verify=True)
    assert state(reopened) == state(first) and "m0" not in reopened.ids
