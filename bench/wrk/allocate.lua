-- POST /v1/ip/allocate from every connection, for bench/wrk_alloc.py.
--
--   wrk -t4 -c4 -d10s --latency -s bench/wrk/allocate.lua URL -- TOKEN PROJECT NET1 [NET2 ...]
--
-- Thread n (1-based) acquires from network ((n - 1) mod #networks) + 1: with -tN -cN each
-- connection has its own thread and so its own network. Each thread counts the answers that are
-- not 201 by status; done() prints one line `WRK_RESULT {json}` with the totals, wrk's errors
-- and the latency percentiles (µs), which the orchestrator reads.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("id", #threads)
end

function init(args)
   local token, project = args[1], args[2]
   local networks = #args - 2
   network = args[3 + ((id - 1) % networks)]
   local body = string.format('{"networkid": "%s", "projectid": "%s"}', network, project)
   -- the same request every time: built once
   prepared = wrk.format("POST", "/v1/ip/allocate", {
      ["Authorization"] = "Bearer " .. token,
      ["Content-Type"] = "application/json",
   }, body)
   created = 0
   other = 0
   statuses = {}
end

function request()
   return prepared
end

function response(status, headers, body)
   if status == 201 then
      created = created + 1
   else
      other = other + 1
      local key = tostring(status)
      statuses[key] = (statuses[key] or 0) + 1
      if sample == nil then
         sample = key .. " " .. string.sub(body or "", 1, 160)
      end
   end
end

local function quote(text)
   return '"' .. string.gsub(text, '[%c"\\]', function(c)
      return string.format("\\u%04x", string.byte(c))
   end) .. '"'
end

function done(summary, latency, requests)
   local total_created, total_other, by_status, per_thread = 0, 0, {}, {}
   local first_sample = nil
   for _, thread in ipairs(threads) do
      local c, o = thread:get("created") or 0, thread:get("other") or 0
      total_created = total_created + c
      total_other = total_other + o
      table.insert(per_thread, string.format('{"network": %s, "created": %d, "other": %d}',
                                             quote(thread:get("network") or "?"), c, o))
      for key, n in pairs(thread:get("statuses") or {}) do
         by_status[key] = (by_status[key] or 0) + n
      end
      first_sample = first_sample or thread:get("sample")
   end
   local statuses_json = {}
   for key, n in pairs(by_status) do
      table.insert(statuses_json, string.format('%s: %d', quote(key), n))
   end
   local e = summary.errors
   io.write(string.format(
      'WRK_RESULT {"duration_us": %d, "requests": %d, "created": %d, "other": %d, ' ..
      '"statuses": {%s}, "sample": %s, "threads": [%s], ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"latency_us": {"mean": %.1f, "p50": %d, "p90": %d, "p99": %d, "max": %d}}\n',
      summary.duration, summary.requests, total_created, total_other,
      table.concat(statuses_json, ", "), first_sample and quote(first_sample) or "null",
      table.concat(per_thread, ", "),
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max))
end
