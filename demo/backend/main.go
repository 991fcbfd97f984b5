// Command backend is the demo's service behind Traefik: it answers every request with the headers it
// received, so you can see what sessionjwt forwarded.
package main

import (
	"flag"
	"fmt"
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
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(rw, "demo backend got %s %s\n", req.Method, req.URL.RequestURI())
		for _, name := range names {
			fmt.Fprintf(rw, "  %s: %s\n", name, strings.Join(req.Header[name], ", "))
		}
	})
	log.Printf("demo backend listening on %s", *addr)
	log.Panic(http.ListenAndServe(*addr, nil))
}
