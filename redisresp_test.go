package sessionjwt

import (
	"bufio"
	"errors"
	"net"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestAppendCommandIsBinarySafe(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"GET", "k"}, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"},
		{[]string{"GET", ""}, "*2\r\n$3\r\nGET\r\n$0\r\n\r\n"},
		{[]string{"GET", "a b"}, "*2\r\n$3\r\nGET\r\n$3\r\na b\r\n"},
		{[]string{"GET", "x\r\nFLUSHALL\r\n"}, "*2\r\n$3\r\nGET\r\n$13\r\nx\r\nFLUSHALL\r\n\r\n"},
		{[]string{"SET", "\x00\xff", "é"}, "*3\r\n$3\r\nSET\r\n$2\r\n\x00\xff\r\n$2\r\né\r\n"},
	}
	for _, tt := range tests {
		if got := string(appendCommand(nil, tt.args)); got != tt.want {
			t.Errorf("appendCommand(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
}

func (c *respConn) readReplyForTest() (interface{}, error) { return readReply(c, 0) }

// readerConn parses replies from a fixed byte string.
func readerConn(s string) *respConn {
	return &respConn{br: bufio.NewReaderSize(strings.NewReader(s), 4096)}
}

func TestReadReply(t *testing.T) {
	tests := []struct {
		name, in string
		want     interface{}
	}{
		{"simple string", "+OK\r\n", "OK"},
		{"integer", ":-42\r\n", int64(-42)},
		{"bulk", "$5\r\nhello\r\n", []byte("hello")},
		{"bulk holding CRLF", "$7\r\na\r\nb\r\nc\r\n", []byte("a\r\nb\r\nc")},
		{"empty bulk", "$0\r\n\r\n", []byte{}},
		{"nil bulk", "$-1\r\n", nil},
		{"nil array", "*-1\r\n", nil},
		{"empty array", "*0\r\n", []interface{}{}},
		{"array", "*3\r\n$1\r\na\r\n:1\r\n$-1\r\n", []interface{}{[]byte("a"), int64(1), nil}},
		{"nested array", "*1\r\n*1\r\n+x\r\n", []interface{}{[]interface{}{"x"}}},
	}
	for _, tt := range tests {
		got, err := readerConn(tt.in).readReplyForTest()
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: readReply(%q) = %#v, %v; want %#v", tt.name, tt.in, got, err, tt.want)
		}
	}
}

func TestReadReplyErrorReply(t *testing.T) {
	_, err := readerConn("-WRONGTYPE Operation against a key\r\n").readReplyForTest()
	if e, ok := err.(redisError); !ok || string(e) != "WRONGTYPE Operation against a key" {
		t.Fatalf("err = %#v, want the redisError", err)
	}
}

func TestReadReplyRejectsMalformed(t *testing.T) {
	tests := []struct{ name, in string }{
		{"bare LF", "+OK\n"},
		{"empty line", "\r\n"},
		{"unknown type", "?x\r\n"},
		{"bad integer", ":1x\r\n"},
		{"bad length", "$x\r\n"},
		{"negative length", "$-2\r\n"},
		{"length beyond limit", "$1048577\r\n"},
		{"array beyond limit", "*65537\r\n"},
		{"bulk without terminator", "$3\r\nabcXY"},
		{"bulk shorter than declared", "$10\r\nabc\r\n"},
		{"truncated array", "*2\r\n+a\r\n"},
		{"line too long", "+" + strings.Repeat("x", 5000) + "\r\n"},
		{"nested too deeply", strings.Repeat("*1\r\n", 9) + "+x\r\n"},
		{"nothing", ""},
	}
	for _, tt := range tests {
		if got, err := readerConn(tt.in).readReplyForTest(); err == nil {
			t.Errorf("%s: readReply(%.40q) = %#v, want an error", tt.name, tt.in, got)
		}
	}
}

// Keys and values with spaces, CRLF and any byte round-trip through a real Redis, and a key that would
// inject a command if it were sent inline does not.
func TestRealRedisBinarySafety(t *testing.T) {
	addr := testEnv(t, "SESSIONJWT_TEST_REDIS")
	admin := dialAdmin(t, "tcp", addr)
	canary := "canary-" + randomID(t)
	admin.do("SET", canary, "alive")

	p := sharedPool(redisOptions{network: "tcp", address: addr, timeout: 2 * time.Second, poolSize: 2})
	prefix := randomID(t)
	tests := []struct{ key, value string }{
		{prefix + " with spaces", "v1"},
		{prefix + "\r\nDEL " + canary + "\r\n", "v2"},
		{prefix + "\x00\xff\x01", "bytes\x00\r\n\xff"},
		{prefix + "é", strings.Repeat("j", 70000)},
	}
	for _, tt := range tests {
		admin.do("SET", tt.key, tt.value)
		got, err := redisGet(poolStore(p), tt.key, time.Now().Add(p.opts.timeout))
		if err != nil || string(got) != tt.value {
			t.Errorf("get(%q) = %.40q, %v; want %.40q", tt.key, got, err, tt.value)
		}
		admin.do("DEL", tt.key)
	}
	if got, _ := redisGet(poolStore(p), canary, time.Now().Add(p.opts.timeout)); string(got) != "alive" {
		t.Fatalf("canary = %q: a key was interpreted as a command", got)
	}
	if got, err := redisGet(poolStore(p), prefix+"missing", time.Now().Add(p.opts.timeout)); got != nil || err != nil {
		t.Fatalf("get(missing) = %q, %v; want nil, nil", got, err)
	}
	admin.do("DEL", canary)
}

// fakeServer accepts connections and hands each to serve; it is for faults a real Redis will not produce.
func fakeServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return ln.Addr().String()
}

// answerAfterHandshake answers the CLIENT SETNAME a new connection sends, then runs rest.
func answerAfterHandshake(rest func(net.Conn, *bufio.Reader)) func(net.Conn) {
	return func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		if !skipCommand(br) {
			return
		}
		c.Write([]byte("+OK\r\n"))
		rest(c, br)
	}
}

// skipCommand reads one RESP array of bulk strings.
func skipCommand(br *bufio.Reader) bool {
	rc := &respConn{br: br}
	_, err := rc.readReplyForTest()
	return err == nil
}

func TestServerThatNeverAnswers(t *testing.T) {
	addr := fakeServer(t, answerAfterHandshake(func(c net.Conn, br *bufio.Reader) {
		skipCommand(br)
		time.Sleep(5 * time.Second) // never answers the GET
	}))
	timeout := 300 * time.Millisecond
	p := sharedPool(redisOptions{network: "tcp", address: addr, timeout: timeout, poolSize: 1})
	// One request holds the only connection while the server stays silent; two more wait for the pool.
	// Each ends by its own deadline (with room for a loaded machine), not when the server decides. The
	// holder's deadline is far beyond the waiters', so that a slow start cannot free the slot for them.
	holderTimeout := 2 * time.Second
	holder := make(chan error, 1)
	go func() {
		_, err := redisGet(poolStore(p), "k", time.Now().Add(holderTimeout))
		holder <- err
	}()
	waitFor(t, 2*time.Second, "the first request to take the connection", func() bool { return openConns(p) == 1 })
	start := time.Now()
	waiters := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() {
			_, err := redisGet(poolStore(p), "k", time.Now().Add(timeout))
			waiters <- err
		}()
	}
	for i := 0; i < 2; i++ {
		if err := <-waiters; err != errPoolTimeout {
			t.Fatalf("a waiting request got %v, want the pool timeout", err)
		}
	}
	if elapsed := time.Since(start); elapsed > timeout+time.Second {
		t.Fatalf("waiting for the pool took %v with a deadline of %v", elapsed, timeout)
	}
	if err := <-holder; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the request on the silent connection got %v, want a deadline error", err)
	}
	if elapsed := time.Since(start); elapsed > holderTimeout+time.Second {
		t.Fatalf("the silent server held a request for %v with a deadline of %v", elapsed, holderTimeout)
	}
	if openConns(p) != 0 || idleConns(p) != 0 {
		t.Fatalf("the timed-out connection was kept: %d open, %d idle", openConns(p), idleConns(p))
	}
}

func TestServerThatClosesMidReply(t *testing.T) {
	replies := []string{"$10\r\nabc", "$3\r\nabc", "*2\r\n$1\r\na\r\n", "+O"}
	for _, half := range replies {
		half := half
		addr := fakeServer(t, answerAfterHandshake(func(c net.Conn, br *bufio.Reader) {
			skipCommand(br)
			c.Write([]byte(half))
		}))
		p := sharedPool(redisOptions{network: "tcp", address: addr, timeout: time.Second, poolSize: 1})
		if v, err := redisGet(poolStore(p), "k", time.Now().Add(p.opts.timeout)); err == nil {
			t.Errorf("reply %q: get = %q, want an error", half, v)
		}
		if openConns(p) != 0 || idleConns(p) != 0 {
			t.Errorf("reply %q: the broken connection was kept", half)
		}
	}
}

func TestServerAnsweringWrongType(t *testing.T) {
	addr := fakeServer(t, answerAfterHandshake(func(c net.Conn, br *bufio.Reader) {
		skipCommand(br)
		c.Write([]byte(":1\r\n"))
		time.Sleep(time.Second)
	}))
	p := sharedPool(redisOptions{network: "tcp", address: addr, timeout: time.Second, poolSize: 1})
	if _, err := redisGet(poolStore(p), "k", time.Now().Add(p.opts.timeout)); !errors.Is(err, errProtocol) {
		t.Fatalf("err = %v, want a protocol error", err)
	}
}

func TestReadReplyErrorInsideArray(t *testing.T) {
	got, err := readerConn("*2\r\n-ERR no\r\n:1\r\n").readReplyForTest()
	elems, ok := got.([]interface{})
	if err != nil || !ok || len(elems) != 2 {
		t.Fatalf("readReply = %#v, %v", got, err)
	}
	if e, ok := elems[0].(redisError); !ok || string(e) != "ERR no" {
		t.Fatalf("first element = %#v, want redisError(ERR no)", elems[0])
	}
}
