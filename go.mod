module github.com/wsloop/wsloop

go 1.26.0

require (
	github.com/HdrHistogram/hdrhistogram-go v1.4.0
	github.com/coder/websocket v1.8.15
	github.com/gobwas/ws v1.5.0
	github.com/gorilla/websocket v1.5.3
	golang.org/x/sys v0.50.0
	golang.org/x/term v0.48.0
)

require (
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/pires/go-proxyproto v0.15.0 // indirect
	go.uber.org/goleak v1.3.0 // indirect
)
