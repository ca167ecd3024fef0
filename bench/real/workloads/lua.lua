-- A fixed allocation-heavy Lua workload: binary trees (many small tables,
-- collected by the GC), string building and splitting, a table used as a
-- queue with inserts and removes, closures, sorting. Prints checksums.
local scale = tonumber(arg and arg[1]) or 1

local function tree(depth)
  if depth == 0 then return {} end
  return { tree(depth - 1), tree(depth - 1) }
end

local function count(t)
  if not t[1] then return 1 end
  return 1 + count(t[1]) + count(t[2])
end

local nodes = 0
local long_lived = tree(16)
for d = 4, 16, 2 do
  for _ = 1, scale * 2 ^ (18 - d) do nodes = nodes + count(tree(d)) end
end
print("tree nodes", nodes, count(long_lived))

local words, total = {}, 0
for i = 1, scale * 60000 do
  local s = string.format("w%d-%x-%s", i, i * 2654435761 % 4294967296, string.rep("z", i % 17))
  words[#words + 1] = s
  total = total + #s
end
local joined = table.concat(words, " ")
local parts = 0
for w in joined:gmatch("%S+") do parts = parts + #w end
print("strings", total, #joined, parts)

local queue, head, sum = {}, 1, 0
for i = 1, scale * 300000 do
  queue[#queue + 1] = { i, tostring(i) }
  if i % 3 == 0 then
    local item = queue[head]
    queue[head] = nil
    head = head + 1
    sum = sum + item[1] + #item[2]
  end
end
print("queue", sum, #queue - head + 1)

local makers = {}
for i = 1, scale * 100000 do
  local v = i
  makers[i % 1000 + 1] = function(x) return x + v end
end
local acc = 0
for i = 1, 1000 do acc = acc + makers[i](i) end
print("closures", acc)

local seq = {}
local x = 42
for i = 1, scale * 200000 do
  x = (x * 1103515245 + 12345) % 2147483648
  seq[i] = { key = x, name = "k" .. (x % 100000) }
end
table.sort(seq, function(a, b) return a.key < b.key end)
print("sorted", seq[1].key, seq[#seq].key, seq[#seq // 2].name)
