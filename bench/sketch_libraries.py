"""``python bench/sketch_libraries.py LIBRARY N``: the near-duplicate libraries compared.

LIBRARY is rensa, datasketch or simhash (install the one measured: only rensa is a
dependency). N random 30-word texts are sketched and indexed (word-pair shingles, 64
permutations, LSH threshold 0.7 / SimHash distance 6); it prints the time to sketch and
index one, the RSS per indexed item, the time to sketch and query one, the share found
with 1, 3 and 6 of 30 words changed, and false positives on unseen texts. The figures in
bench/README.md ("Selection") came from N = 20,000 on this machine, busy.
"""

import gc
import random
import resource
import sys
import time

random.seed(1)
WORDS = [f"w{i}" for i in range(3000)]


def template(i):
    r = random.Random(i)
    return " ".join(r.choice(WORDS) for _ in range(30))


def variant(t, r, edits=0):
    toks = t.split()
    for _ in range(edits):
        toks[r.randrange(len(toks))] = r.choice(WORDS)
    return " ".join(toks)


def shingles(text):
    toks = text.split()
    return [" ".join(toks[i : i + 2]) for i in range(len(toks) - 1)]


which = sys.argv[1]
N = int(sys.argv[2])


def rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if which == "rensa":
    import rensa

    lsh = rensa.RMinHashLSH(threshold=0.7, num_perm=64, num_bands=16)

    def mh(text):
        m = rensa.RMinHash(num_perm=64, seed=1)
        m.update(shingles(text))
        return m

    def add(i, m):
        lsh.insert(i, m)

    def q(m):
        return lsh.query(m)
elif which == "datasketch":
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=0.7, num_perm=64)

    def mh(text):
        m = MinHash(num_perm=64)
        m.update_batch([s.encode() for s in shingles(text)])
        return m

    def add(i, m):
        lsh.insert(i, m)

    def q(m):
        return lsh.query(m)
elif which == "simhash":
    from simhash import Simhash, SimhashIndex

    idx = SimhashIndex([], k=6)

    def mh(text):
        return Simhash(shingles(text))

    def add(i, m):
        idx.add(str(i), m)

    def q(m):
        return idx.get_near_dups(m)


base = rss()
t = time.perf_counter()
for i in range(N):
    m = mh(template(i))
    add(i, m)
el = time.perf_counter() - t
gc.collect()
print(
    which,
    "insert us/ev incl template gen",
    el / N * 1e6,
    "rss MB",
    rss() - base,
    "per item B",
    (rss() - base) * 1024 * 1024 / N,
)
# template gen cost
t = time.perf_counter()
for i in range(2000):
    template(i)
tg = (time.perf_counter() - t) / 2000
texts = [template(i) for i in range(2000)]
t = time.perf_counter()
for x in texts:
    q(mh(x))
print(" query+sketch us/ev", (time.perf_counter() - t) / 2000 * 1e6, "template us", tg * 1e6)
r = random.Random(5)
for ed in (1, 3, 6):
    hit = sum(1 for i in range(500) if q(mh(variant(template(i), r, ed))))
    print(f" recall with {ed} of 30 words changed: {hit / 500:.2f}")
fp = sum(1 for i in range(500) if q(mh(template(10**7 + i))))
print(" false positives on unseen templates:", fp / 500)
