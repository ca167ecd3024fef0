# A fixed allocation-heavy Python workload: objects in dicts and lists,
# string building, JSON round trips, a sort, sets; prints checksums.
import hashlib
import json
import sys

scale = int(sys.argv[1]) if len(sys.argv) > 1 else 1


class Node:
    __slots__ = ("key", "children", "label")

    def __init__(self, key):
        self.key = key
        self.children = []
        self.label = "n%d" % key


def build(depth, key):
    node = Node(key)
    if depth:
        node.children = [build(depth - 1, key * 3 + i) for i in range(3)]
    return node


def walk(node):
    return node.key % 1000 + sum(walk(c) for c in node.children)


total = 0
for _ in range(4 * scale):
    total += walk(build(9, 1))
print("trees", total)

records = []
for i in range(60000 * scale):
    records.append({"id": i, "name": "user-%05d" % (i * 7 % 100000), "tags": [i % 7, i % 11, "t%d" % (i % 13)],
                    "score": (i * 2654435761) % 1000003 / 7.0})
text = json.dumps(records)
back = json.loads(text)
print("json", len(text), sum(r["id"] for r in back), hashlib.sha256(text.encode()).hexdigest()[:16])

back.sort(key=lambda r: (r["name"], r["id"]))
groups = {}
for r in back:
    groups.setdefault(r["tags"][2], []).append(r["name"])
print("groups", sorted((k, len(v)) for k, v in groups.items())[:3], back[0]["name"], back[-1]["id"])

seen = set()
words = []
for i in range(200000 * scale):
    w = "".join(chr(97 + (i >> s) % 26) for s in (0, 3, 7, 11))
    if w not in seen:
        seen.add(w)
        words.append(w * (1 + i % 4))
print("words", len(seen), sum(len(w) for w in words))

del records, back, groups
lines = "\n".join("%d,%s,%d" % (i, "x" * (i % 50), i * i) for i in range(150000 * scale))
rows = [line.split(",") for line in lines.split("\n")]
print("csv", len(rows), sum(int(r[2]) % 1000 for r in rows))
