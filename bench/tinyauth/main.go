// Command tinyauth is the benchmark's authorization service: it answers authorize-by-token as tinyauth
// does when it allows the caller (HTTP 200, Authorized true), after checking the gateway's Basic
// credentials and reading the question, so that a middleware delegating every request is measured
// against a service that costs little.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net/http"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8003", "listen address")
	flag.Parse()
	allowed := []byte(`{"Authorized": true, "Identity": "bench", "Permitted": {}, "NotPermitted": {}}`)
	log.Panic(http.ListenAndServe(*addr, http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		user, pass, ok := req.BasicAuth()
		var question map[string]json.RawMessage
		if !ok || user != "bench" || pass != "bench-secret" || json.NewDecoder(req.Body).Decode(&question) != nil || len(question) != 3 {
			rw.WriteHeader(http.StatusUnauthorized)
			rw.Write([]byte(`{"errors": {"authorization": "InvalidSignature"}}`))
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		rw.Write(allowed)
	})))
}
