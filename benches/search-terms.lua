-- wrk script: every request searches for another word from the demo catalogue's vocabulary,
-- so no cache can answer it. Usage: wrk -s search-terms.lua http://host:port
local words = {
  "headphones", "speaker", "kettle", "backpack", "lamp", "chair", "notebook", "jacket",
  "sneakers", "watch", "camera", "blender", "tent", "keyboard", "mouse", "monitor", "mug",
  "teapot", "grinder", "bicycle", "drill", "charger", "blanket", "pillow", "scarf", "wallet",
  "wireless", "compact", "classic", "premium", "portable", "organic", "vintage", "smart",
  "aurora", "northwind", "kestrel", "lumen", "orbit", "zephyr", "audio", "kitchen", "garden",
  "head", "key", "back", "wire", "port", "blend", "char", "moni", "lamp", "tea",
}
local counter = 0
request = function()
  counter = counter + 1
  local word = words[(counter * 7919) % #words + 1]
  local second = words[(counter * 104729) % #words + 1]
  local query = word
  if counter % 3 == 0 then query = word .. "%20" .. second end
  local extra = ""
  if counter % 4 == 0 then extra = "&ordering=price" end
  if counter % 5 == 0 then extra = extra .. "&max_price=50" end
  -- A unique parameter per request: the response cache must not answer any of them.
  return wrk.format("GET", "/api/products/?search=" .. query .. extra .. "&uncached=" .. counter)
end
