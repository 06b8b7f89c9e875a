// hello-go: a GreenCloud function that greets whoever calls it.
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
)

type greeting struct {
	Message string `json:"message"`
}

func handle(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if name == "" {
		name = "world"
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(greeting{Message: fmt.Sprintf("Hello, %s!", name)})
}

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", handle)
	log.Fatal(http.ListenAndServe(":"+port, nil))
}
