require "reject";
reject text:
I do not accept
messages like this.
.
;
