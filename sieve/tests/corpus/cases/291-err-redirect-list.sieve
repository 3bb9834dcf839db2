# expect: compile error
redirect ["a@example.org"];
