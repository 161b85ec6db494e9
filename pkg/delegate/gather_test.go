package delegate

import (
	"context"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// pagedList serves items n at a time with Continue tokens, as the API server does.
func pagedList(all []int, expireAt string) (func(metav1.ListOptions) ([]int, string, error), *[]metav1.ListOptions) {
	var calls []metav1.ListOptions
	return func(o metav1.ListOptions) ([]int, string, error) {
		calls = append(calls, o)
		if o.Continue != "" && o.Continue == expireAt {
			expireAt = "" // expires once
			return nil, "", apierrors.NewResourceExpired("continue token expired")
		}
		start := 0
		if o.Continue != "" {
			fmt.Sscanf(o.Continue, "%d", &start)
		}
		end := len(all)
		if o.Limit > 0 && start+int(o.Limit) < end {
			end = start + int(o.Limit)
		}
		cont := ""
		if end < len(all) {
			cont = fmt.Sprint(end)
		}
		return all[start:end], cont, nil
	}, &calls
}

func TestListAllFollowsContinueTokens(t *testing.T) {
	all := make([]int, 23)
	for i := range all {
		all[i] = i
	}
	list, calls := pagedList(all, "")
	got, err := listAll(context.Background(), metav1.ListOptions{Limit: 10}, list)
	if err != nil || len(got) != 23 || got[22] != 22 {
		t.Fatalf("got %d items, %v", len(got), err)
	}
	if len(*calls) != 3 {
		t.Errorf("23 items at 10 a page took %d requests, want 3", len(*calls))
	}
}

func TestListAllStartsOverWhenTheTokenExpires(t *testing.T) {
	all := []int{1, 2, 3, 4, 5}
	list, calls := pagedList(all, "2")
	got, err := listAll(context.Background(), metav1.ListOptions{Limit: 2}, list)
	if err != nil || len(got) != 5 {
		t.Fatalf("got %v, %v", got, err)
	}
	last := (*calls)[len(*calls)-1]
	if last.Limit != 0 || last.Continue != "" {
		t.Errorf("after an expired token the list must start over unpaged, got %+v", last)
	}
}

func TestListAllReturnsErrors(t *testing.T) {
	_, err := listAll(context.Background(), metav1.ListOptions{}, func(metav1.ListOptions) ([]int, string, error) {
		return nil, "", apierrors.NewForbidden(schemaGR("pods"), "", fmt.Errorf("no"))
	})
	if !apierrors.IsForbidden(err) {
		t.Errorf("got %v", err)
	}
}

func schemaGR(resource string) schema.GroupResource { return schema.GroupResource{Resource: resource} }
