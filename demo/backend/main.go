// Command backend is the demo's service behind Traefik: it answers every request with the headers it
// received, so you can see what sessionjwt forwarded. Under /app/ it answers a page for browsers: the
// headers, the claims of the JWT it got, and buttons that call the API with fetch().
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"html"
	"log"
	"net/http"
	"sort"
	"strings"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8001", "listen address")
	flag.Parse()
	http.HandleFunc("/", func(rw http.ResponseWriter, req *http.Request) {
		names := make([]string, 0, len(req.Header))
		for name := range req.Header {
			names = append(names, name)
		}
		sort.Strings(names)
		var got strings.Builder
		fmt.Fprintf(&got, "demo backend got %s %s\n", req.Method, req.URL.RequestURI())
		for _, name := range names {
			fmt.Fprintf(&got, "  %s: %s\n", name, strings.Join(req.Header[name], ", "))
		}
		if strings.HasPrefix(req.URL.Path, "/app/") {
			rw.Header().Set("Content-Type", "text/html; charset=utf-8")
			authorization, _ := json.Marshal(req.Header.Get("Authorization")) // a JS string literal, <>& escaped
			fmt.Fprintf(rw, appPage, authorization, html.EscapeString(got.String()))
			return
		}
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(rw, got.String())
	})
	log.Printf("demo backend listening on %s", *addr)
	log.Panic(http.ListenAndServe(*addr, nil))
}

// appPage is the demo's web page: %s the Authorization header it got, %s everything it got.
const appPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sessionjwt demo</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
pre{background:#f4f4f4;padding:.8rem;white-space:pre-wrap;word-break:break-all;font-size:.8rem}
button{font-size:1rem;padding:.4rem .8rem;margin-right:.5rem}</style></head>
<body><h1 id="title">The backend behind sessionjwt</h1>
<p id="who">Not signed in: this page is public, and the backend got no JWT.</p>
<h2>The JWT's claims</h2><pre id="claims">none</pre>
<h2>What the backend received</h2><pre id="received">%[2]s</pre>
<h2>The API, called with fetch()</h2>
<button id="call-api" type="button">GET /api/orders</button>
<button id="call-admin" type="button">GET /api/admin/orders (needs demo:admin)</button>
<pre id="api-result">not called yet</pre>
<form method="post" action="/logout"><button id="logout" type="submit">Sign out</button></form>
<script>
const authorization = %[1]s;
if (authorization.startsWith("Bearer ")) {
  const payload = authorization.slice(7).split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  const claims = JSON.parse(atob(payload));
  document.getElementById("claims").textContent = JSON.stringify(claims, null, 2);
  document.getElementById("who").textContent = "Signed in as " + claims.sub +
    ": sessionjwt swapped your session cookie for this JWT; the backend never looked anything up.";
}
async function call(path) {
  const out = document.getElementById("api-result");
  const res = await fetch(path, {headers: {"Accept": "application/json"}});
  out.textContent = res.status + " " + res.statusText + "\n" + await res.text();
  out.dataset.status = res.status;
}
document.getElementById("call-api").onclick = () => call("/api/orders");
document.getElementById("call-admin").onclick = () => call("/api/admin/orders");
</script></body></html>
`
