package sessionjwt

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// This file is a minimal RESP2 client connection: commands go out as arrays of bulk strings (binary
// safe, never inline), replies are parsed by their declared lengths. Modelled on redigo's redis/conn.go.

// Limits on what a reply may declare, so a broken or hostile server cannot make us allocate without bound.
const (
	maxBulkLen   = 1 << 20 // a stored JWT is a header value; Go's servers cap all headers at 1 MiB
	maxArrayLen  = 1 << 16
	maxReplyNest = 8
)

// redisError is an error reply (-ERR ...) from the server. The connection stays usable after one.
type redisError string

func (e redisError) Error() string { return "redis: " + string(e) }

// errProtocol marks a reply we cannot parse; the connection is then discarded.
var errProtocol = errors.New("redis: protocol error")

func protocolError(what string) error { return fmt.Errorf("%w: %s", errProtocol, what) }

// respConn is one connection. It is used by one goroutine at a time (the pool hands it out).
type respConn struct {
	nc net.Conn
	br *bufio.Reader // reused for every reply
	// lastDeadline is the deadline of the last lookup that put the connection back in its pool's idle
	// list: the janitor closes connections idle for longer than the pool's idleTimeout.
	lastDeadline time.Time
}

func newRespConn(nc net.Conn) *respConn {
	return &respConn{nc: nc, br: bufio.NewReaderSize(nc, 4096)}
}

// exchange sends encoded commands and reads their replies, all before deadline. Reply values: string
// (simple string), int64, []byte (bulk), nil (nil bulk or nil array), []interface{} (array), or a
// redisError as the error. With replies > 1, cmd holds that many pipelined commands and their replies
// come back as a []interface{}, error replies as redisError elements. Hot-path helpers here are plain
// functions, not methods (docs/yaegi.md).
func exchange(c *respConn, cmd string, replies int, deadline time.Time) (interface{}, error) {
	if err := c.nc.SetDeadline(deadline); err != nil {
		return nil, err
	}
	if _, err := io.WriteString(c.nc, cmd); err != nil {
		return nil, err
	}
	if replies == 1 {
		return readReply(c, 0)
	}
	return readReplies(c, replies)
}

// readReplies reads the replies of n pipelined commands, error replies as redisError elements.
func readReplies(c *respConn, n int) (interface{}, error) {
	all := make([]interface{}, n)
	for i := range all {
		v, err := readReply(c, 0)
		if err != nil {
			re, isReply := err.(redisError)
			if !isReply {
				return nil, err
			}
			v = re
		}
		all[i] = v
	}
	return all, nil
}

// appendCommand encodes args as a RESP array of bulk strings.
func appendCommand(buf []byte, args []string) []byte {
	buf = append(buf, '*')
	buf = strconv.AppendInt(buf, int64(len(args)), 10)
	buf = append(buf, '\r', '\n')
	for _, a := range args {
		buf = append(buf, '$')
		buf = strconv.AppendInt(buf, int64(len(a)), 10)
		buf = append(buf, '\r', '\n')
		buf = append(buf, a...)
		buf = append(buf, '\r', '\n')
	}
	return buf
}

// readReply reads one reply. A bulk string, every GET's answer, is parsed here; every other kind of
// reply, and every error, in readOtherReply, so that the common case's body stays small (docs/yaegi.md).
func readReply(c *respConn, depth int) (interface{}, error) {
	line, err := c.br.ReadSlice('\n')
	end := len(line) - 2
	if err != nil || end < 1 || line[end] != '\r' || line[0] != '$' {
		return readOtherReply(c, line, err, depth)
	}
	n, err := strconv.Atoi(string(line[1:end]))
	if err != nil || n < 0 || n > maxBulkLen {
		return readOtherReply(c, line, nil, depth)
	}
	p := make([]byte, n+2)
	if _, err := io.ReadFull(c.br, p); err != nil || p[n] != '\r' || p[n+1] != '\n' {
		return nil, bulkError(err)
	}
	return p[:n], nil
}

// bulkError is the error of a bulk string whose body could not be read (err) or was not terminated.
func bulkError(err error) error {
	if err != nil {
		return err
	}
	return protocolError("bad bulk string terminator")
}

// readOtherReply parses a reply line readReply did not (read with readErr): a nil or malformed bulk
// string, or any other reply type.
func readOtherReply(c *respConn, line []byte, readErr error, depth int) (interface{}, error) {
	if readErr != nil {
		if readErr == bufio.ErrBufferFull {
			return nil, protocolError("line too long")
		}
		return nil, readErr
	}
	end := len(line) - 2
	if end < 1 || line[end] != '\r' {
		return nil, protocolError("bad line terminator")
	}
	switch line[0] {
	case '$':
		if n, err := parseLength(line[1:end], maxBulkLen); err != nil || n >= 0 {
			return nil, protocolError("bad length") // readReply reads the good ones
		}
		return nil, nil
	case '+':
		return string(line[1:end]), nil
	case '-':
		return nil, redisError(line[1:end])
	case ':':
		n, err := strconv.ParseInt(string(line[1:end]), 10, 64)
		if err != nil {
			return nil, protocolError("bad integer")
		}
		return n, nil
	case '*':
		n, err := parseLength(line[1:end], maxArrayLen)
		if err != nil || n < 0 {
			return nil, err
		}
		if depth >= maxReplyNest {
			return nil, protocolError("arrays nested too deeply")
		}
		elems := make([]interface{}, 0, 16)
		for i := 0; i < n; i++ {
			v, err := readReply(c, depth+1)
			if err != nil {
				re, isReply := err.(redisError)
				if !isReply {
					return nil, err
				}
				v = re // an error inside an array is an element, not a failure of the read
			}
			elems = append(elems, v)
		}
		return elems, nil
	}
	return nil, protocolError("unknown reply type")
}

// parseLength reads a declared length: -1 (nil) or 0..limit.
func parseLength(p []byte, limit int) (int, error) {
	n, err := strconv.Atoi(string(p))
	if err != nil || n < -1 || n > limit {
		return 0, protocolError("bad length")
	}
	return n, nil
}

// expectOK runs a command whose only good answer is +OK (AUTH, SELECT, CLIENT SETNAME).
func (c *respConn) expectOK(deadline time.Time, args ...string) error {
	reply, err := exchange(c, string(appendCommand(nil, args)), 1, deadline)
	if err != nil {
		return err
	}
	if s, ok := reply.(string); !ok || s != "OK" {
		return protocolError(args[0] + " did not answer OK")
	}
	return nil
}

func (c *respConn) close() { c.nc.Close() }
