package sessionjwt

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
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

// controlBytes are the ASCII bytes a header value must not contain.
const controlBytes = "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f" +
	"\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f"

// headerSafe reports whether v is one non-empty line of printable ASCII. It uses compiled stdlib calls
// only: a byte loop would run in Traefik's interpreter.
func headerSafe(v []byte) bool {
	return len(v) > 0 && bytes.IndexAny(v, controlBytes) < 0 && utf8.RuneCount(v) == len(v) && utf8.Valid(v)
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
