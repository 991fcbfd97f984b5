// Package benchfloor holds the floors of `make bench` (bench/run.sh): Traefik plugins that Yaegi interprets
// like sessionjwt but that do only part of its work, so that a run shows what any interpreted middleware
// costs on the machine before it does anything, and what one Redis lookup per request adds to that.
//
//   - With headerValue, the plugin sets Authorization to it and calls the next handler: what sessionjwt
//     does once it knows the JWT.
//   - With redisAddr, it reads the value stored under the session cookie's id (the cookie value up to its
//     first dot, its signature never checked) on a pooled connection and forwards it as a Bearer token:
//     sessionjwt's uncached swap without the signature check, the stored JWT's checks, the pool's bound
//     or any care for errors (any failure answers 502).
//
// Not for use outside the benchmark.
package benchfloor

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config chooses the floor: headerValue or redisAddr.
type Config struct {
	HeaderValue string `json:"headerValue,omitempty"`
	RedisAddr   string `json:"redisAddr,omitempty"`
}

// CreateConfig returns the default configuration.
func CreateConfig() *Config {
	return &Config{}
}

// New returns the floor the configuration chooses.
func New(_ context.Context, next http.Handler, config *Config, _ string) (http.Handler, error) {
	switch {
	case config.HeaderValue != "":
		return &headerFloor{next: next, value: config.HeaderValue}, nil
	case config.RedisAddr != "":
		return &getFloor{next: next, addr: config.RedisAddr, idle: make(chan *redisConn, 64)}, nil
	}
	return nil, errors.New("headerValue or redisAddr is required")
}

type headerFloor struct {
	next  http.Handler
	value string
}

func (f *headerFloor) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	req.Header["Authorization"] = []string{f.value}
	f.next.ServeHTTP(rw, req)
}

type getFloor struct {
	next     http.Handler
	addr     string
	idle     chan *redisConn // holds up to 64 connections: more than the benchmark's ever open
	commands sync.Map        // cookie value -> its GET command, as sessionjwt remembers verified cookie values
}

type redisConn struct {
	nc net.Conn
	br *bufio.Reader
}

func (f *getFloor) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	cookie, err := req.Cookie("session_uuid")
	if err != nil {
		f.next.ServeHTTP(rw, req)
		return
	}
	var cmd string
	if v, ok := f.commands.Load(cookie.Value); ok {
		cmd = v.(string)
	} else {
		cmd = commandFor(f, cookie.Value)
	}
	var c *redisConn
	select {
	case idle := <-f.idle:
		c = idle
	default:
		if c = dial(f.addr); c == nil {
			rw.WriteHeader(http.StatusBadGateway)
			return
		}
	}
	_ = c.nc.SetDeadline(time.Now().Add(time.Second))
	if _, err = io.WriteString(c.nc, cmd); err != nil {
		fail(rw, c)
		return
	}
	line, err := c.br.ReadSlice('\n')
	if err != nil || len(line) < 4 || line[0] != '$' {
		fail(rw, c)
		return
	}
	n, err := strconv.Atoi(string(line[1 : len(line)-2]))
	if err != nil || n < 0 {
		fail(rw, c)
		return
	}
	p := make([]byte, n+2)
	if _, err = io.ReadFull(c.br, p); err != nil {
		fail(rw, c)
		return
	}
	f.idle <- c
	req.Header["Authorization"] = []string{"Bearer " + string(p[:n])}
	f.next.ServeHTTP(rw, req)
}

func commandFor(f *getFloor, value string) string {
	id, _, _ := strings.Cut(value, ".")
	cmd := "*2\r\n$3\r\nGET\r\n$" + strconv.Itoa(len(id)) + "\r\n" + id + "\r\n"
	f.commands.Store(value, cmd)
	return cmd
}

func dial(addr string) *redisConn {
	nc, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil
	}
	return &redisConn{nc: nc, br: bufio.NewReaderSize(nc, 4096)}
}

func fail(rw http.ResponseWriter, c *redisConn) {
	c.nc.Close()
	rw.WriteHeader(http.StatusBadGateway)
}
