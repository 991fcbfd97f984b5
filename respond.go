package sessionjwt

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
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

// printableASCII is every byte a forwarded header value may hold: space to tilde.
const printableASCII = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"

// headerSafe reports whether v is one non-empty line of printable ASCII. One compiled call does it: a byte
// loop would run in Traefik's interpreter.
func headerSafe(v string) bool {
	return v != "" && strings.Trim(v, printableASCII) == ""
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
