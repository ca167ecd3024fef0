-- A fixed sqlite workload on an in-memory database (its pages are heap
-- blocks): inserts, index builds, joins and aggregates, updates, deletes,
-- a vacuum. Every value comes from the row number, so the output is fixed.
PRAGMA cache_size = -200000;
CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, price REAL, note TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
INSERT INTO item SELECT i, 'item-' || (i * 7919 % 200000), i % 997, (i * 31 % 10007) / 7.0,
  substr('abcdefghijklmnopqrstuvwxyz0123456789', 1 + i % 20, 5 + i % 30) FROM n;
CREATE INDEX item_name ON item(name);
CREATE INDEX item_grp_price ON item(grp, price);
CREATE TABLE grp(id INTEGER PRIMARY KEY, label TEXT);
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 996)
INSERT INTO grp SELECT i, 'group-' || i || '-' || hex(i * 12345) FROM n;
SELECT count(*), sum(price), min(name), max(name) FROM item;
SELECT g.label, count(*), round(avg(i.price), 3) FROM item i JOIN grp g ON g.id = i.grp
  GROUP BY g.id ORDER BY count(*) DESC, g.id LIMIT 5;
SELECT name, price FROM item WHERE name BETWEEN 'item-1000' AND 'item-10009' ORDER BY name;
SELECT grp, group_concat(id, ',') FROM (SELECT grp, id FROM item WHERE grp < 3 ORDER BY id LIMIT 40) GROUP BY grp;
UPDATE item SET note = note || '-' || name, price = price * 1.5 WHERE id % 3 = 0;
DELETE FROM item WHERE id % 5 = 0;
SELECT count(*), round(sum(price), 2), sum(length(note)) FROM item;
CREATE TABLE summary AS SELECT grp, count(*) AS c, sum(price) AS s, max(note) AS m FROM item GROUP BY grp;
SELECT count(*), sum(c), round(sum(s), 2) FROM summary;
SELECT DISTINCT substr(note, 1, 3) AS p FROM item ORDER BY p LIMIT 5;
DROP INDEX item_name;
DELETE FROM item WHERE grp % 2 = 1;
VACUUM;
CREATE INDEX item_note ON item(note, id);
SELECT count(*), min(note), max(note) FROM item;
SELECT id, name FROM item ORDER BY note DESC, id LIMIT 3;
