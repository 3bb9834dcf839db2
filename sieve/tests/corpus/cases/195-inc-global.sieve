require "include";
include :global "company";
