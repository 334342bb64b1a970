-- wrk script: filtered product lists with varied bounds, none of them answered from the cache.
local counter = 0
request = function()
  counter = counter + 1
  local min = (counter * 37) % 500
  local max = min + 5 + (counter * 11) % 200
  local ordering = ({"price", "-price", "name", "-created_at", "stock"})[(counter % 5) + 1]
  local category = (counter % 30) + 1
  local path = string.format("/api/products/?min_price=%d&max_price=%d&ordering=%s", min, max, ordering)
  if counter % 2 == 0 then path = path .. "&category=" .. category end
  if counter % 3 == 0 then path = path .. "&in_stock=true" end
  -- A unique parameter per request: the response cache must not answer any of them.
  return wrk.format("GET", path .. "&uncached=" .. counter)
end
