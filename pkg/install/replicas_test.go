package install

import (
	"errors"
	"testing"

	"k8s.io/utils/ptr"
)

func TestValidateReplicasSized(t *testing.T) {
	for _, n := range []int32{1, 2, 8} {
		if err := ValidateReplicasSized(Values{Replicas: ptr.To(n)}); err != nil {
			t.Errorf("%d replicas: %v", n, err)
		}
	}
	if err := ValidateReplicasSized(Values{}); err != nil {
		t.Errorf("no replicas set: %v", err)
	}
	err := ValidateReplicasSized(Values{Replicas: ptr.To(int32(100000))})
	var fe FieldError
	if !errors.As(err, &fe) || fe.Field != "replicas" || fe.Error() != "replicas: 100000 is more than the 8 replicas the documented delegate sizing covers (1, 2, 4 or 8)" {
		t.Errorf("100000 replicas: %v", err)
	}
}
