package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// Stream modes, for the mesh's TCP and TLS routes (--mode tcp, --mode tls
// with --cert and --key): on each connection the app first writes one JSON
// line saying who it is,
//
//	{"pod": "tcp-echo-v1", "version": "v1", "service": "tcp-echo", "sni": ""}
//
// ("sni" is the server name the client asked for, in TLS mode), then
// echoes every line it receives until the client closes.

// StreamHello is the first line of every stream-mode connection.
type StreamHello struct {
	Pod     string `json:"pod"`
	Version string `json:"version"`
	Service string `json:"service"`
	SNI     string `json:"sni"`
}

// streamIdle bounds how long a silent connection is kept.
const streamIdle = 2 * time.Minute

// serveStream serves ln in tcp or tls mode until SIGTERM or SIGINT.
func serveStream(ln net.Listener, s *server, mode, certFile, keyFile string) error {
	switch mode {
	case "tcp":
	case "tls":
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return fmt.Errorf("--cert/--key: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	default:
		return fmt.Errorf("--mode %q: want http, tcp or tls", mode)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() { <-ctx.Done(); ln.Close() }()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(ctx, conn)
		}()
	}
}

// serveConn greets and echoes one connection.
func (s *server) serveConn(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	hello := StreamHello{Pod: s.pod, Version: s.version, Service: s.service}
	if tc, ok := conn.(*tls.Conn); ok {
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			log.Printf("echo: TLS handshake from %s: %v", conn.RemoteAddr(), err)
			return
		}
		hello.SNI = tc.ConnectionState().ServerName
	}
	line, _ := json.Marshal(hello)
	conn.SetDeadline(time.Now().Add(streamIdle))
	if _, err := conn.Write(append(line, '\n')); err != nil {
		return
	}
	in := bufio.NewScanner(conn)
	for in.Scan() {
		conn.SetDeadline(time.Now().Add(streamIdle))
		if _, err := conn.Write(append(in.Bytes(), '\n')); err != nil {
			return
		}
	}
}
