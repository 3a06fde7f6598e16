export FROM_PROFILE_D=profile-sourced
