-- wrk script for the RSS soak (phase "soak", bench/phases/soak.py): rotates over the paths in SOAK_PATHS (space
-- separated), HTML and PEP 691 JSON, identity and gzip, and now and then a name a curated tier does
-- not hold (404 without any upstream request; the mirror records the demand).
local paths = {}
for p in string.gmatch(os.getenv("SOAK_PATHS") or "/healthz", "%S+") do
  paths[#paths + 1] = p
end
local absent_tier = os.getenv("SOAK_ABSENT_TIER") or "reviewed"
local accepts = { "text/html", "application/vnd.pypi.simple.v1+json" }
local n = 0

function setup(thread)
  thread:set("id", tostring(thread))
end

function request()
  n = n + 1
  if n % 16 == 0 then  -- 1 in 16: an absent project, one of 500 names
    return wrk.format("GET", "/" .. absent_tier .. "/simple/bench-absent-" .. (n % 500) .. "/")
  end
  local p = paths[(n % #paths) + 1]
  local headers = { ["Accept"] = accepts[(math.floor(n / #paths) % 2) + 1] }
  if math.floor(n / (2 * #paths)) % 2 == 1 then
    headers["Accept-Encoding"] = "gzip"
  end
  return wrk.format("GET", p, headers)
end
