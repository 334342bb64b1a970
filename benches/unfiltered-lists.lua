-- wrk script: unfiltered product lists (every active product) on varied pages and orderings,
-- none of them answered from the cache: what a list costs right after a write.
local counter = 0
request = function()
  counter = counter + 1
  local page = (counter * 7) % 500 + 1
  local ordering = ({"price", "-price", "name", "-created_at"})[(counter % 4) + 1]
  -- A unique parameter per request: the response cache must not answer any of them.
  return wrk.format("GET", string.format("/api/products/?page=%d&ordering=%s&uncached=%d",
    page, ordering, counter))
end
