package sessionjwt

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// Error bodies are fixed and small: they say what went wrong without echoing anything from the request.
var (
	bodyUnauthenticated  = []byte(`{"error":"unauthenticated"}` + "\n")
	bodyStoreUnavailable = []byte(`{"error":"session store unavailable"}` + "\n")
)

func writeError(rw http.ResponseWriter, status int, body []byte) {
	h := rw.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	rw.WriteHeader(status)
	rw.Write(body)
}

// Log lines go straight to Traefik's stdout (fmt.Print would land at DEBUG level only). They never hold
// secrets, cookies, session ids or tokens.
var (
	logMu     sync.Mutex
	logOutput io.Writer = os.Stdout
)

func logf(format string, args ...interface{}) {
	line := time.Now().UTC().Format(time.RFC3339) + " sessionjwt: " + fmt.Sprintf(format, args...) + "\n"
	logMu.Lock()
	defer logMu.Unlock()
	io.WriteString(logOutput, line)
}
