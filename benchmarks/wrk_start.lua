-- wrk script: POST /workflows/bench_http_one with the input 1, as benchmarks/http.py sends it.
-- wrk -t1 -c64 -d10s -s benchmarks/wrk_start.lua http://127.0.0.1:8011
wrk.method = "POST"
wrk.body = "1"
wrk.headers["Content-Type"] = "application/json"
wrk.path = "/workflows/bench_http_one"
