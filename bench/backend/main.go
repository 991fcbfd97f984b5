// Command backend is the benchmark's service: it answers 200 with a short body, and with
// "authorized" when the request carries a Bearer Authorization header, so a run can check the swap.
package main

import (
	"flag"
	"log"
	"net/http"
	"strings"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8001", "listen address")
	flag.Parse()
	ok, authorized := []byte("ok\n"), []byte("authorized\n")
	log.Panic(http.ListenAndServe(*addr, http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		if strings.HasPrefix(req.Header.Get("Authorization"), "Bearer ") {
			rw.Write(authorized)
			return
		}
		rw.Write(ok)
	})))
}
