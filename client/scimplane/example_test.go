package scimplane_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"

	"github.com/scimplane/scimplane/client/scimplane"
)

// Read a tenant's users with their effective permissions.
func ExampleTenant_Users() {
	c, err := scimplane.New("http://127.0.0.1:8080", os.Getenv("SCIMPLANE_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for u, err := range c.Tenant(os.Getenv("SCIMPLANE_TENANT")).Users(ctx, scimplane.UsersQuery{}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(u.UserName, u.Permissions)
	}
}

// Follow the change feed from a stored cursor, storing the new one after
// each page.
func ExampleTenant_Follow() {
	c, err := scimplane.New("http://127.0.0.1:8080", os.Getenv("SCIMPLANE_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	cursor, _ := os.ReadFile("cursor")
	err = c.Tenant(os.Getenv("SCIMPLANE_TENANT")).Follow(context.Background(), string(cursor),
		func(ctx context.Context, changes []scimplane.Change, next string) error {
			for _, ch := range changes {
				fmt.Println(ch.Seq, ch.Kind, ch.UserID, ch.GroupID)
			}
			return os.WriteFile("cursor", []byte(next), 0o600)
		})
	log.Fatal(err)
}

// Verify a webhook delivery before trusting its body.
func ExampleWebhookSecret_Verify() {
	secret, err := scimplane.ParseWebhookSecret(os.Getenv("SCIMPLANE_WEBHOOK_SECRET")) // whsec_...
	if err != nil {
		log.Fatal(err)
	}
	http.HandleFunc("/scimplane", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		if err := secret.Verify(r.Header, body); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		// body is a signed {"type", "timestamp", "data"}: handle it, idempotently
		// by the webhook-id header (deliveries are at least once).
		w.WriteHeader(http.StatusNoContent)
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:9000", nil))
}
