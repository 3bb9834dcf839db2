require "include";
include :global :once "company";
include :global :once "company";
