// Package pagedfake makes client-go's fake clientset answer LISTs a page at a time, with
// Continue tokens, as the API server does: the fake otherwise returns every item at once,
// and code that reads only the first page passes its tests.
package pagedfake

import (
	"fmt"
	"strconv"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// Calls counts the LIST requests a paged resource served.
type Calls struct {
	mu sync.Mutex
	n  int
}

// N is the number of LIST requests so far.
func (c *Calls) N() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Page makes LISTs of resource (e.g. "secrets") on cs answer Limit items at a time. The
// Continue token is the offset of the next item.
func Page(cs *fake.Clientset, resource string) *Calls {
	calls := &Calls{}
	cs.PrependReactor("list", resource, func(action k8stesting.Action) (bool, runtime.Object, error) {
		calls.mu.Lock()
		calls.n++
		calls.mu.Unlock()
		la, ok := action.(k8stesting.ListActionImpl)
		if !ok {
			return false, nil, nil
		}
		_, obj, err := k8stesting.ObjectReaction(cs.Tracker())(action)
		if err != nil {
			return true, nil, err
		}
		items, err := meta.ExtractList(obj)
		if err != nil {
			return true, nil, err
		}
		// Select before paging, as the server does, so that pages are full.
		selector := labels.Everything()
		if s := la.ListOptions.LabelSelector; s != "" {
			if selector, err = labels.Parse(s); err != nil {
				return true, nil, err
			}
		}
		var selected []runtime.Object
		for _, item := range items {
			if m, err := meta.Accessor(item); err == nil && selector.Matches(labels.Set(m.GetLabels())) {
				selected = append(selected, item)
			}
		}
		start := 0
		if c := la.ListOptions.Continue; c != "" {
			if start, err = strconv.Atoi(c); err != nil || start > len(selected) {
				return true, nil, fmt.Errorf("bad continue token %q", c)
			}
		}
		end := len(selected)
		if limit := int(la.ListOptions.Limit); limit > 0 && start+limit < end {
			end = start + limit
		}
		if err := meta.SetList(obj, selected[start:end]); err != nil {
			return true, nil, err
		}
		lm, err := meta.ListAccessor(obj)
		if err != nil {
			return true, nil, err
		}
		lm.SetContinue("")
		if end < len(selected) {
			lm.SetContinue(strconv.Itoa(end))
		}
		return true, obj, nil
	})
	return calls
}
